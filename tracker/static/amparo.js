// Progressive enhancement only: every page works without this file.
"use strict";
document.addEventListener("submit", function (event) {
  // A second tap on a slow connection must not open the same case twice.
  var form = event.target;
  if (form.dataset.submitted === "1") { event.preventDefault(); return; }
  form.dataset.submitted = "1";
  var button = form.querySelector("button[type=submit]");
  if (button) { button.setAttribute("aria-busy", "true"); }
});
document.addEventListener("change", function (event) {
  // Filters apply as soon as one is picked.
  var el = event.target;
  if (el.tagName === "SELECT" && el.form && el.form.classList.contains("filter-form")) {
    el.form.requestSubmit();
  }
});
window.addEventListener("pageshow", function () {
  // Coming back with the browser's Back button: the forms are usable again.
  document.querySelectorAll("form[data-submitted]").forEach(function (form) {
    delete form.dataset.submitted;
    var button = form.querySelector("button[aria-busy]");
    if (button) { button.removeAttribute("aria-busy"); }
  });
});
