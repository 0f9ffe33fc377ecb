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

  // Days, hours and minutes: no seconds ticking for days, which only adds stress; they appear
  // in the last hour (minutes and seconds), when they matter. No-break spaces keep each number
  // with its unit.
  var NBSP = "\u00a0";

  function remaining(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var days = Math.floor(s / 86400);
    var hours = Math.floor((s % 86400) / 3600);
    var minutes = Math.floor((s % 3600) / 60);
    if (s < 3600) {
      return minutes + NBSP + "min " + pad(s % 60) + NBSP + "s";
    }
    var text = hours + NBSP + "h " + pad(minutes) + NBSP + "min";
    if (days > 0) {
      text = days + NBSP + (days > 1 ? "jours " : "jour ") + text;
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
