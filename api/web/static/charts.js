// Draws every <figure data-chart> with uPlot from the JSON beside it
// ({labels: ["2026-01", ...], unit, max, series: [{label, values}]}): no inline script,
// as the pages' Content-Security-Policy wants. Without uPlot the tables still say it all.
(function () {
  "use strict";
  var COLOURS = ["#0b5cad", "#1f7a3a", "#b26a00", "#b3261e"];

  function draw(figure) {
    var box = figure.querySelector(".chart");
    var spec = JSON.parse(figure.querySelector('script[type="application/json"]').textContent);
    var xs = spec.labels.map(function (_, i) { return i; });
    var short = function (label) { return label ? label.slice(2).replace("-", "/") : ""; };
    var options = {
      width: Math.max(260, box.clientWidth),
      height: 180,
      scales: {
        x: { time: false },
        y: spec.max ? { range: [0, spec.max] } : { range: function (u, lo, hi) { return [0, Math.max(1, hi * 1.1)]; } },
      },
      axes: [
        { incrs: [1, 2, 3, 6], values: function (u, ticks) { return ticks.map(function (t) { return short(spec.labels[t]); }); } },
        { size: 56, incrs: spec.integer ? [1, 2, 5, 10, 20, 50, 100, 200, 500] : undefined, values: function (u, ticks) { return ticks.map(function (t) { return t + (spec.unit === "%" ? "%" : ""); }); } },
      ],
      // A static legend (series names only): no untranslated "Value" row, no hover read-out.
      legend: { live: false },
      series: [{}].concat(
        spec.series.map(function (s, i) {
          return { label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true, size: 6 } };
        })
      ),
      cursor: { drag: { x: false, y: false } },
    };
    var data = [xs].concat(spec.series.map(function (s) { return s.values; }));
    return new uPlot(options, data, box);
  }

  function drawAll() {
    if (typeof uPlot === "undefined") { return; }
    document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
      var plot = draw(figure);
      window.addEventListener("resize", function () {
        plot.setSize({ width: Math.max(260, figure.querySelector(".chart").clientWidth), height: 180 });
      });
    });
  }

  drawAll();
})();
