// The calendar's keyboard: arrow keys move between blocks (up and down within a
// column, left and right to the nearest block of the next column with any);
// "t", "p" and "n" go to today, the previous and the next period. The page works
// without it: every block and every button is a link.
(function () {
  function blocks(column) {
    return Array.from(column.querySelectorAll(".cal-block a.slot"));
  }
  function middle(element) {
    const box = element.getBoundingClientRect();
    return box.top + box.height / 2;
  }
  function across(from, step) {
    const columns = Array.from(document.querySelectorAll("[data-calendar] .cal-col"));
    let index = columns.indexOf(from.closest(".cal-col"));
    const y = middle(from);
    for (index += step; index >= 0 && index < columns.length; index += step) {
      const candidates = blocks(columns[index]).filter((el) => el.offsetParent !== null);
      if (candidates.length) {
        return candidates.reduce((best, el) =>
          Math.abs(middle(el) - y) < Math.abs(middle(best) - y) ? el : best);
      }
    }
    return null;
  }
  function typing(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable], dialog");
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
    const slot = event.target.closest && event.target.closest("[data-calendar] .cal-block a.slot");
    if (slot) {
      let next = null;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        const own = blocks(slot.closest(".cal-col"));
        next = own[own.indexOf(slot) + (event.key === "ArrowDown" ? 1 : -1)] || null;
      } else if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
        next = across(slot, event.key === "ArrowRight" ? 1 : -1);
      }
      if (next) {
        event.preventDefault();
        next.focus();
        next.scrollIntoView({ block: "nearest", inline: "nearest" });
        return;
      }
    }
    if (typing(event.target) || document.querySelector("dialog[open]")) return;
    const shortcut = document.querySelector(`#schedule [data-shortcut="${event.key}"]`);
    if (shortcut) {
      event.preventDefault();
      shortcut.click();
    }
  });
})();
