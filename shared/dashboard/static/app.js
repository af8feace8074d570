// Progressive enhancement only: every page works without this file.
// Copy buttons (hidden unless this runs) copy the text of their target;
// Print buttons print the page (the backup codes).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(target.innerText.trim()).then(function () {
        button.textContent = "Copied";
      });
    });
  });
  // The template editor's preview follows the typing: the form is posted
  // as the Preview button would (the server renders it, nothing is saved)
  // and the preview section of the answer replaces this one.
  var editor = document.querySelector("form[data-preview]");
  if (editor && window.fetch && window.DOMParser && window.URLSearchParams) {
    var timer = null;
    editor.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var data = new URLSearchParams(new FormData(editor));
        data.set("preview", "1");
        fetch(editor.action, { method: "POST", body: data, credentials: "same-origin" })
          .then(function (r) { return r.text(); })
          .then(function (html) {
            var answer = new DOMParser().parseFromString(html, "text/html");
            var fresh = answer.querySelector("section.preview");
            var here = document.querySelector("section.preview");
            if (!fresh || !here) { return; }
            var error = answer.getElementById("template-error");
            if (error) {
              var p = document.createElement("p");
              p.className = "error";
              p.textContent = error.textContent;
              fresh.appendChild(p);
            }
            here.replaceWith(fresh);
          });
      }, 300);
    });
  }
  document.querySelectorAll("button.print").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
});
