// ATLAS admin: progressive enhancement only. Every page works without it.
// Loaded from this origin (the Content-Security-Policy allows no inline script).
"use strict";

function copyText(button) {
  const target = document.getElementById(button.dataset.copy);
  if (!target) return;
  const text = target.textContent;
  const done = () => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => selectText(target));
  } else {
    selectText(target);
  }
}

function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function setUpTabs(root) {
  const tabs = Array.from(root.querySelectorAll('[role="tab"]'));
  const show = (tab) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
    tab.focus();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => show(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (step) { event.preventDefault(); show(tabs[(i + step + tabs.length) % tabs.length]); }
    });
  });
}

function cssVar(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function drawCharts() {
  if (typeof Chart === "undefined") return;
  const colours = ["--chart-1", "--chart-2", "--chart-3"].map(cssVar);
  const text = cssVar("--muted");
  const grid = cssVar("--chart-grid");
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const spec = JSON.parse(canvas.dataset.chart);
    const datasets = spec.datasets.map((set, i) => ({
      ...set,
      borderColor: colours[i % colours.length],
      backgroundColor: colours[i % colours.length] + (spec.type === "line" ? "33" : "cc"),
      fill: spec.type === "line",
      tension: 0.25,
      pointRadius: spec.labels.length > 40 ? 0 : 2,
      maxBarThickness: 56,
    }));
    new Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { labels: { color: text } } },
        scales: {
          x: { ticks: { color: text }, grid: { color: grid } },
          y: {
            ticks: { color: text, ...(spec.integer ? { precision: 0 } : {}) },
            grid: { color: grid },
            beginAtZero: true,
          },
        },
      },
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", () => copyText(button));
  }
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  document.querySelectorAll("[data-tabs]").forEach(setUpTabs);
  drawCharts();
});
