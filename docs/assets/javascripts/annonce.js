/*
 * Announcement bar: not yet open / open with a live countdown to the closing / closed.
 * The instants come from the data- attributes written by the build (from notice.yml); the
 * wording is in the page, this script only picks the paragraph to show. External file, no
 * inline style: compatible with the service's strict Content-Security-Policy.
 */
(function () {
  "use strict";
  var root = document.querySelector("[data-fs-annonce]");
  if (!root) {
    return;
  }
  var opens = Date.parse(root.getAttribute("data-opens"));
  var closes = Date.parse(root.getAttribute("data-closes"));
  var countdown = root.querySelector("[data-fs-countdown]");
  if (isNaN(opens) || isNaN(closes) || !countdown) {
    return;
  }
  var timer = null;

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function remaining(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var days = Math.floor(s / 86400);
    var hours = Math.floor((s % 86400) / 3600);
    var minutes = Math.floor((s % 3600) / 60);
    // No-break spaces (as formservice/typography.py puts them): a number never leaves its unit.
    var nb = "\u00a0";
    var text = hours + nb + "h" + nb + pad(minutes) + nb + "min " + pad(s % 60) + nb + "s";
    if (days > 0) {
      text = days + nb + (days > 1 ? "jours " : "jour ") + text;
    }
    return text;
  }

  function show(state) {
    var paragraphs = root.querySelectorAll("[data-fs-state]");
    for (var i = 0; i < paragraphs.length; i++) {
      paragraphs[i].hidden = paragraphs[i].getAttribute("data-fs-state") !== state;
    }
    root.setAttribute("data-fs-current", state);
  }

  function tick() {
    var now = Date.now();
    if (now < opens) {
      show("before");
    } else if (now < closes) {
      countdown.textContent = remaining(closes - now);
      show("open");
    } else {
      show("closed");
      if (timer !== null) {
        clearInterval(timer);
      }
    }
  }

  tick();
  if (root.getAttribute("data-fs-current") !== "closed") {
    timer = setInterval(tick, 1000);
  }
})();
