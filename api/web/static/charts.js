// Draws every <figure data-chart> with uPlot from the JSON beside it: no inline script,
// as the pages' Content-Security-Policy wants. Two shapes:
// - by month (notice board, report): {labels: ["2026-01", ...], unit, max, series: [{label, values}]};
// - over time (a device's page): {times: [epoch seconds], from, to, tz, bars, integer, series}.
// Once drawn, a figure says how many points it drew (data-drawn), for the browser tests.
// Without uPlot the tables and figures still say it all.
(function () {
  "use strict";
  var COLOURS = ["#0b5cad", "#1f7a3a", "#b26a00", "#b3261e"];
  var HEIGHT = 180;

  function yAxis(spec) {
    return {
      size: 56,
      incrs: spec.integer ? [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] : undefined,
      values: function (u, ticks) { return ticks.map(function (t) { return t + (spec.unit === "%" ? "%" : ""); }); },
    };
  }

  function yScale(spec) {
    return spec.max ? { range: [0, spec.max] } : { range: function (u, lo, hi) { return [0, Math.max(1, hi * 1.1)]; } };
  }

  function series(spec) {
    return spec.series.map(function (s, i) {
      var colour = COLOURS[i % COLOURS.length];
      if (spec.bars) {
        // Each later series a narrower bar drawn over the one before, so both show.
        return {
          label: s.label, stroke: colour, fill: colour + "b3", width: 1,
          paths: uPlot.paths.bars({ size: [0.8 - 0.35 * i, 40 - 18 * i] }),
          points: { show: false },
        };
      }
      return { label: s.label, stroke: colour, width: 2, points: { show: true, size: 4 }, spanGaps: false };
    });
  }

  function byMonth(spec) {
    var short = function (label) { return label ? label.slice(2).replace("-", "/") : ""; };
    return {
      xs: spec.labels.map(function (_, i) { return i; }),
      options: {
        scales: { x: { time: false }, y: yScale(spec) },
        axes: [
          { incrs: [1, 2, 3, 6], values: function (u, ticks) { return ticks.map(function (t) { return short(spec.labels[t]); }); } },
          yAxis(spec),
        ],
        series: [{}].concat(spec.series.map(function (s, i) {
          return { label: s.label, stroke: COLOURS[i % COLOURS.length], width: 2, points: { show: true, size: 6 } };
        })),
      },
    };
  }

  function overTime(spec) {
    var day = 86400;
    var tzDate = function (ts) { return uPlot.tzDate(new Date(ts * 1e3), spec.tz || "Asia/Shanghai"); };
    var label = uPlot.fmtDate("{MM}-{DD}");
    return {
      xs: spec.times,
      options: {
        tzDate: tzDate,
        scales: { x: { time: true, range: [spec.from, spec.to] }, y: yScale(spec) },
        axes: [
          { space: 56, incrs: [day, 2 * day, 7 * day, 14 * day, 30 * day], values: function (u, ticks) { return ticks.map(function (t) { return label(tzDate(t)); }); } },
          yAxis(spec),
        ],
        series: [{}].concat(series(spec)),
      },
    };
  }

  function draw(figure) {
    var box = figure.querySelector(".chart");
    var spec = JSON.parse(figure.querySelector('script[type="application/json"]').textContent);
    var shape = spec.times ? overTime(spec) : byMonth(spec);
    var options = shape.options;
    options.width = Math.max(260, box.clientWidth);
    options.height = HEIGHT;
    // A static legend (series names only): no untranslated "Value" row, no hover read-out.
    options.legend = { live: false };
    options.cursor = { drag: { x: false, y: false } };
    var data = [shape.xs].concat(spec.series.map(function (s) { return s.values; }));
    var plot = new uPlot(options, data, box);
    figure.dataset.drawn = String(shape.xs.length);
    return plot;
  }

  function drawAll() {
    if (typeof uPlot === "undefined") { return; }
    document.querySelectorAll("figure[data-chart]").forEach(function (figure) {
      var plot = draw(figure);
      window.addEventListener("resize", function () {
        plot.setSize({ width: Math.max(260, figure.querySelector(".chart").clientWidth), height: HEIGHT });
      });
    });
  }

  drawAll();
})();
