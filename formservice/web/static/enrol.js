// Progressive enhancement of « M'inscrire ». Without JavaScript everything works: every
// speciality is listed (the server refuses one of another exam), the error summary's links
// jump to their fields, the postal code keeps its numeric keypad.
(function () {
  "use strict";

  // The error summary's links put the focus in the field they name, its label in sight.
  Array.prototype.forEach.call(document.querySelectorAll(".error-summary a[href^='#']"), function (link) {
    link.addEventListener("click", function (event) {
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) { return; }
      event.preventDefault();
      var group = target.type === "radio" ? target.closest("fieldset") : null;
      var legend = group ? group.querySelector("legend") : null;
      var label = legend || document.querySelector("label[for='" + target.id + "']") || target;
      label.scrollIntoView({ block: "start" });
      target.focus({ preventScroll: true });
    });
  });

  // The specialities of the chosen exam only (each exam's are an <optgroup data-exam>).
  var speciality = document.querySelector("select[data-by-exam]");
  var exam = speciality && document.getElementById(speciality.getAttribute("data-by-exam"));
  if (speciality && exam) {
    var filter = function () {
      Array.prototype.forEach.call(speciality.querySelectorAll("optgroup[data-exam]"), function (group) {
        var other = exam.value !== "" && group.getAttribute("data-exam") !== exam.value;
        group.hidden = other;
        group.disabled = other;
      });
      var chosen = speciality.options[speciality.selectedIndex];
      if (chosen && chosen.parentNode.disabled) { speciality.value = ""; }
    };
    exam.addEventListener("change", filter);
    filter();
  }

  // A numeric keypad for a French postal code only: abroad, codes have letters.
  var postal = document.getElementById("postal_code");
  var country = document.getElementById("country");
  if (postal && country) {
    var keypad = function () {
      var france = country.value.trim() === "" || country.value.trim().toLowerCase() === "france";
      postal.setAttribute("inputmode", france ? "numeric" : "text");
    };
    country.addEventListener("input", keypad);
    keypad();
  }
})();
