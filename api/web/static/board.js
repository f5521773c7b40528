// The duty board: SLA countdowns tick here from the stored due time; a new P1 shows a
// banner and, once the page has been touched (browsers refuse sound before), beeps.
(function () {
  "use strict";
  var SOON_MS = 5 * 60 * 1000;
  var live = document.getElementById("live");
  var banner = document.getElementById("p1-banner");
  var soundButton = document.getElementById("sound");
  var audio = null;

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = Date.parse(el.dataset.due) - now;
      var size = Math.abs(left);
      var h = Math.floor(size / 3600000), m = Math.floor(size / 60000) % 60, s = Math.floor(size / 1000) % 60;
      var text = (h ? h + ":" + two(m) : m) + ":" + two(s);
      el.textContent = left < 0 ? "-" + text + " " + live.dataset.late : text;
      el.classList.toggle("late", left < 0);
      el.classList.toggle("soon", left >= 0 && left <= SOON_MS);
      el.classList.toggle("ok", left > SOON_MS);
    });
  }

  function beep() {
    if (!audio) { return; }
    var osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.25, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.6);
  }

  soundButton.addEventListener("click", function () {
    if (audio) { audio.close(); audio = null; } else { audio = new AudioContext(); beep(); }
    soundButton.setAttribute("aria-pressed", audio ? "true" : "false");
    soundButton.textContent = audio ? live.dataset.soundOn : live.dataset.soundOff;
  });

  document.body.addEventListener("sse:p1-raised", function (event) {
    var data = JSON.parse(event.detail.data);
    banner.querySelector(".what").textContent = [data.id, data.site].join(" · ");
    banner.hidden = false;
    beep();
  });
  banner.querySelector(".dismiss").addEventListener("click", function () { banner.hidden = true; });
  // The stream's state on the page (tests and people can see the board is live).
  live.addEventListener("htmx:sseOpen", function () { live.classList.add("connected"); });
  live.addEventListener("htmx:sseError", function () { live.classList.remove("connected"); });
  document.body.addEventListener("htmx:afterSwap", tick);
  tick();
  setInterval(tick, 1000);
})();
