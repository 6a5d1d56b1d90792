// Vigil console: draws each chart from the HTML table that holds its data (so the table and
// the chart always agree and the page reads fine without JavaScript), then folds the table
// into its <details>. Runs on load and on content htmx swaps in.
(() => {
  function readTable(table) {
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells, 1);
    var series = heads.map((th) => ({
      label: th.textContent.trim(),
      colour: th.getAttribute("data-colour") || "#555",
      data: [],
    }));
    var labels = [];
    Array.prototype.forEach.call(table.tBodies[0].rows, (tr) => {
      labels.push(tr.cells[0].textContent.trim());
      for (var i = 0; i < series.length; i++) series[i].data.push(Number(tr.cells[i + 1].textContent) || 0);
    });
    return { labels: labels, series: series };
  }

  function draw(holder) {
    if (holder.getAttribute("data-drawn") || typeof window.Chart === "undefined") return;
    var table = document.getElementById(holder.getAttribute("data-chart-for"));
    if (!table) return;
    var kind = table.getAttribute("data-chart");
    var d = readTable(table);
    var canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    var caption = table.caption ? table.caption.textContent.trim() : "chart";
    canvas.setAttribute("aria-label", caption + " (the data table below has the numbers)");
    holder.appendChild(canvas);
    holder.setAttribute("data-drawn", "1");
    var stacked = kind === "stacked-bar";
    new window.Chart(canvas, {
      type: stacked ? "bar" : "line",
      data: {
        labels: d.labels,
        datasets: d.series.map((s) => ({
          label: s.label,
          data: s.data,
          backgroundColor: s.colour,
          borderColor: s.colour,
          borderWidth: stacked ? 0 : 2,
          pointRadius: 0,
          fill: false,
          tension: 0.2,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
        scales: {
          x: {
            stacked: stacked,
            ticks: { autoSkip: true, maxRotation: 0, maxTicksLimit: 12 },
            grid: { display: false },
          },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    });
    var details = table.closest("details");
    if (details) details.removeAttribute("open");
  }

  function init(root) {
    var holders = (root || document).querySelectorAll("[data-chart-for]");
    Array.prototype.forEach.call(holders, draw);
    // one-time secrets: select the whole token on focus so it copies in one go
    Array.prototype.forEach.call((root || document).querySelectorAll("input.token"), (el) => {
      el.addEventListener("focus", () => {
        el.select();
      });
    });
  }

  if (document.readyState === "loading")
    document.addEventListener("DOMContentLoaded", () => {
      init(document);
    });
  else init(document);
  document.addEventListener("htmx:afterSettle", (e) => {
    init(e.target);
  });
})();
