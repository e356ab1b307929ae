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
// The reply box's SMS counter: a mirror of notifications.messages.conversation_text and
// segment_count (GSM-7: 160 in one SMS, 153 a part; UCS-2: 70, or 67 a part).
(function () {
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENDED = "^{}\\[~]|€\f";
  var LOOKALIKES = {"\u2018": "'", "\u2019": "'", "\u201c": "\"", "\u201d": "\"",
    "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u202f": " "};
  function count(raw) {
    var text = Array.from(raw.trim()).map(function (ch) {
      return Object.prototype.hasOwnProperty.call(LOOKALIKES, ch) ? LOOKALIKES[ch] : ch;
    }).join("");
    var chars = Array.from(text);
    var gsm = chars.every(function (ch) { return BASIC.indexOf(ch) >= 0 || EXTENDED.indexOf(ch) >= 0; });
    if (gsm) {
      var units = chars.reduce(function (n, ch) { return n + (EXTENDED.indexOf(ch) >= 0 ? 2 : 1); }, 0);
      return {chars: chars.length, encoding: "GSM-7", segments: units <= 160 ? 1 : Math.ceil(units / 153)};
    }
    // UTF-16 code units, as carriers count UCS-2 (an emoji is two): JavaScript's own length.
    var ucs = text.length;
    return {chars: chars.length, encoding: "UCS-2", segments: ucs <= 70 ? 1 : Math.ceil(ucs / 67)};
  }
  function show(area) {
    var out = document.getElementById(area.dataset.smsCounter);
    if (!out) { return; }
    var c = count(area.value);
    var max = area.dataset.maxSegments;
    // The sentence in the page's language, rendered by the template (data-count-one/-other).
    var sentence = (c.segments === 1 ? out.dataset.countOne : out.dataset.countOther) ||
      "{chars} characters · {segments} SMS segments ({encoding}) · at most {max}";
    var values = {chars: c.chars, segments: c.segments, encoding: c.encoding, max: max};
    out.textContent = sentence.replace(/\{(chars|segments|encoding|max)\}/g, function (_, name) {
      return String(values[name]);
    });
    out.classList.toggle("over", c.segments > Number(max));
  }
  document.addEventListener("input", function (event) {
    if (event.target.dataset && event.target.dataset.smsCounter) { show(event.target); }
  });
})();
