// Quick search: the "/" key focuses the search box in the header (unless one is
// typing somewhere); Escape in the box empties the results. Without JavaScript the
// box submits to the search results page.
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
  const box = document.getElementById("quick-q");
  if (!box) return;
  event.preventDefault();
  box.focus();
  box.select();
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && event.target.id === "quick-q") {
    const results = document.getElementById("quick-results");
    if (results) results.replaceChildren();
  }
});
