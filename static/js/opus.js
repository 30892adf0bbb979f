// Opus keeps JavaScript small: htmx does the swapping. This file only adds
// conveniences that pages also work without.
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    document.querySelectorAll("details[open].usermenu, details[open].row-actions").forEach((el) => el.removeAttribute("open"));
  }
});

// A fragment request that fails shows the error page in full instead of leaving
// the panel as it was. (A session that ended is handled by the server: it answers
// a fragment request with HX-Redirect to the login page.)
document.addEventListener("htmx:responseError", (event) => {
  const path = event.detail.pathInfo && event.detail.pathInfo.requestPath;
  if (path && event.detail.requestConfig && event.detail.requestConfig.verb === "get") {
    window.location.assign(path);
  }
});

// The session-date panel: the schedule loads a date into #panel-body (htmx) and
// shows it as a modal dialog; without JavaScript the link opens the date's page.
let panelOpener = null;
document.addEventListener("htmx:beforeRequest", (event) => {
  if (event.detail.target && event.detail.target.id === "panel-body") {
    panelOpener = event.detail.elt.getAttribute("href");
  }
});
document.addEventListener("htmx:afterSwap", (event) => {
  const target = event.detail.target;
  if (target && target.id === "panel-body") {
    const dialog = target.closest("dialog");
    if (dialog && !dialog.open) dialog.showModal();
    const heading = target.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }
  // After a change re-rendered a part of a page, move focus to its message.
  const notice = document.querySelector("[data-autofocus]");
  if (notice) {
    notice.removeAttribute("data-autofocus");
    notice.focus();
  }
});
// Closing the panel returns the focus to the session date it was opened from,
// even when the schedule behind it was refreshed meanwhile (or is refreshed
// just after: the refresh then hands the focus on to the new link).
function refocusOpener() {
  const dialog = document.getElementById("session-panel");
  if (!panelOpener || !dialog || dialog.open) return;
  const opener = Array.from(document.querySelectorAll("#schedule a[href]"))
    .find((link) => link.getAttribute("href") === panelOpener);
  if (opener) opener.focus();
}
document.addEventListener("close", (event) => {
  if (event.target.id === "session-panel") refocusOpener();
}, true);
document.addEventListener("htmx:afterSettle", () => {
  if (document.activeElement === document.body) refocusOpener();
});

// "Print" buttons (the invoice page): the page prints cleanly through the print stylesheet.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});

// A client's actions menu opened near the bottom of the panel scrolls into view
// rather than being cut off by the panel's edge.
document.addEventListener("toggle", (event) => {
  const details = event.target;
  if (details.matches && details.matches("details.row-actions") && details.open) {
    const menu = details.querySelector(".menu");
    if (menu) menu.scrollIntoView({ block: "nearest" });
  }
}, true);

// A wizard step swapped in by htmx (the transfer, the migration) takes the focus to
// its heading (the one with tabindex="-1"), instead of leaving it on the page body.
// A control that htmx kept focused (a filter of the same id) keeps it.
document.addEventListener("htmx:afterSettle", (event) => {
  if (document.activeElement && document.activeElement !== document.body) return;
  const settled = event.target instanceof Element && event.target.isConnected ? event.target : document.body;
  const selector = ":is(h1, h2)[tabindex='-1']";
  const heading = settled.matches(selector) ? settled : settled.querySelector(selector);
  if (heading) heading.focus();
});

// A wizard step loaded as a whole page (the schedule's "Transfer to another
// session" posts a form) also starts at its heading, as the swapped-in steps do.
document.addEventListener("DOMContentLoaded", () => {
  if (location.hash || (document.activeElement && document.activeElement !== document.body)) return;
  const heading = document.querySelector("#wizard :is(h1, h2)[tabindex='-1']");
  if (heading) heading.focus();
});
