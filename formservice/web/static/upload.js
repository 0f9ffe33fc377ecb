// Progressive enhancement of « Ajouter »: refuse, before sending anything, a file that the
// server would refuse for its size or type, so that a candidate on a phone does not upload
// megabytes for nothing; and say when a file was chosen but not sent (« Ajouter » not clicked),
// next to it and when leaving the page. The server checks everything again: this is a courtesy.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-max-bytes]");
  var sending = null;  // the form being submitted: its file is not « forgotten »
  var pending = [];    // forms whose chosen file is not sent yet

  Array.prototype.forEach.call(forms, function (form) {
    var input = form.querySelector("input[type=file]");
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    var message = form.querySelector(".upload-form__check");
    var waiting = form.querySelector(".upload-form__pending");
    if (!input || !message || !max) { return; }
    function check() {
      var file = input.files && input.files[0];
      var problem = "";
      if (file && file.size === 0) {
        problem = form.getAttribute("data-msg-empty");
      } else if (file && file.size > max) {
        problem = form.getAttribute("data-msg-size");
      } else if (file && !/\.(pdf|jpe?g|png)$/i.test(file.name) && /\.[a-z0-9]{1,5}$/i.test(file.name)) {
        problem = form.getAttribute("data-msg-type");
      }
      message.textContent = problem || "";
      message.hidden = !problem;
      input.setAttribute("aria-invalid", problem ? "true" : "false");
      var chosen = file && !problem;
      if (waiting) {
        waiting.textContent = chosen ? "« " + file.name + " » " + form.getAttribute("data-msg-pending") : "";
      }
      var at = pending.indexOf(form);
      if (chosen && at < 0) { pending.push(form); }
      if (!chosen && at >= 0) { pending.splice(at, 1); }
      return !problem;
    }
    input.addEventListener("change", check);
    form.addEventListener("submit", function (event) {
      if (!check()) { event.preventDefault(); input.focus(); return; }
      sending = form;
    });
  });

  window.addEventListener("beforeunload", function (event) {
    var forgotten = pending.filter(function (form) { return form !== sending; });
    if (forgotten.length === 0) { return; }
    event.preventDefault();
    event.returnValue = forgotten[0].getAttribute("data-msg-leave");
    return event.returnValue;
  });
})();
