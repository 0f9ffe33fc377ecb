// Progressive enhancement of « Ajouter »: refuse, before sending anything, a file that the
// server would refuse for its size or type, so that a candidate on a phone does not upload
// megabytes for nothing. The server checks everything again: this is only a courtesy.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-max-bytes]");
  Array.prototype.forEach.call(forms, function (form) {
    var input = form.querySelector("input[type=file]");
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    var message = form.querySelector(".upload-form__check");
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
      return !problem;
    }
    input.addEventListener("change", check);
    form.addEventListener("submit", function (event) {
      if (!check()) { event.preventDefault(); input.focus(); }
    });
  });
})();
