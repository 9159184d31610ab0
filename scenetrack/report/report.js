/* The evaluator report's behaviour: charts, tables (DataTables: sort, CSV/Excel download,
 * print), the filter bar and its shareable link, the activity view under a filter, and the
 * drill-downs. Every figure it writes is a sum of mart rows embedded in the page; it never
 * fetches anything (the pages open from disk). */
(function () {
  "use strict";
  var L = JSON.parse(document.getElementById("i18n").textContent);
  var STAGES = ["opportunity", "validation", "application", "scale_up"];
  var state = {}; // filter dimension -> value ("" or absent: all)

  // --- charts ---------------------------------------------------------------------------
  var config = { displaylogo: false, responsive: true };
  document.querySelectorAll("div.plot[data-chart]").forEach(function (el) {
    var spec = JSON.parse(document.getElementById("spec-" + el.dataset.chart).textContent);
    Plotly.newPlot(el, spec.data, spec.layout, config);
    if (el.dataset.drill) {
      el.on("plotly_click", function (ev) {
        var stage = ev.points && ev.points[0] && ev.points[0].customdata;
        if (stage) { drill(el.dataset.drill, stage); }
      });
    }
  });

  // --- filters: which rows a state keeps ---------------------------------------------------
  function rowMatches(tr) {
    for (var d in state) {
      if (!state[d]) { continue; }
      var v = tr.getAttribute("data-f-" + d);
      if (v !== null && v.split(" ").indexOf(state[d]) < 0) { return false; }
    }
    return true;
  }

  // --- tables -------------------------------------------------------------------------------
  function exportValue(data, row, column, node) {
    var v = node ? node.getAttribute("data-value") : null;
    return v === null ? (node ? node.textContent : data) : v;
  }
  var tables = {};
  if (window.DataTable) {
    DataTable.ext.search.push(function (settings, data, index) {
      var tr = settings.aoData[index] && settings.aoData[index].nTr;
      return tr ? rowMatches(tr) : true;
    });
    document.querySelectorAll("table.dt[data-table]").forEach(function (t) {
      var name = t.getAttribute("data-table");
      var out = { columns: ":visible", format: { body: exportValue } };
      tables[name] = new DataTable(t, {
        paging: false,
        info: false,
        searching: true,
        ordering: t.classList.contains("sortable"),
        order: [],
        autoWidth: false,
        layout: {
          topStart: {
            buttons: [
              { extend: "csvHtml5", text: L.download_csv, bom: true, filename: name,
                exportOptions: out },
              { extend: "excelHtml5", text: L.download_xlsx, filename: name,
                exportOptions: out },
              { extend: "print", text: L.print, title: document.title }
            ]
          },
          topEnd: null, bottomStart: null, bottomEnd: null
        }
      });
    });
  }

  // --- the activity view under a filter -------------------------------------------------------
  var activity = document.getElementById("activity-data");
  activity = activity ? JSON.parse(activity.textContent) : null;

  function fmtInt(v) { return v.toLocaleString("en-US"); }
  function fmtSigned(v) {
    if (v === null) { return "-"; }
    if (v === 0) { return "±0"; }
    return (v > 0 ? "+" : "−") + fmtInt(Math.abs(v));
  }
  function previousLabel(label, back) { // back: 1 period earlier, or "year"
    var y = parseInt(label.slice(0, 4), 10);
    if (label.length === 4) { return String(y - 1); }
    var q = parseInt(label.slice(-1), 10);
    if (back === "year") { return (y - 1) + "-Q" + q; }
    return q === 1 ? (y - 1) + "-Q4" : y + "-Q" + (q - 1);
  }
  function setCell(tr, col, value, text) {
    var td = tr.querySelector('td[data-col="' + col + '"]');
    if (!td) { return; }
    td.setAttribute("data-value", value === null ? "" : String(value));
    td.setAttribute("data-order", value === null ? "" : String(value));
    td.textContent = text;
  }
  function recomputeActivity() {
    if (!activity) { return; }
    var c = {}, dicts = activity.dicts || {};
    activity.columns.forEach(function (n, i) { c[n] = i; });
    function val(r, col) {
      var v = r[c[col]];
      return dicts[col] ? dicts[col][v] : v;
    }
    ["year", "quarter"].forEach(function (pt) {
      var table = document.querySelector('table[data-table="activity_' + pt + '"]');
      if (!table) { return; }
      var agg = {};
      table.querySelectorAll("tbody tr[data-key]").forEach(function (tr) {
        var a = { failed: 0, withdrawn: 0, amount: 0 };
        STAGES.forEach(function (s) { a[s] = 0; });
        agg[tr.getAttribute("data-key")] = a;
      });
      activity.rows.forEach(function (r) {
        if (val(r, "period_type") !== pt) { return; }
        for (var d in state) {
          if (!state[d]) { continue; }
          var v = d === "year" ? val(r, "period_label").slice(0, 4)
            : (d in c ? String(val(r, d)) : null);
          if (v !== null && v !== state[d]) { return; }
        }
        var a = agg[val(r, "period_label")];
        if (!a) { return; }
        var stage = val(r, "stage_code");
        a[stage] += r[c.projects_entered];
        a.failed += r[c.projects_failed];
        a.withdrawn += r[c.projects_withdrawn];
        if (stage === "application") { a.amount += r[c.cooperation_amount_yuan]; }
      });
      table.querySelectorAll("tbody tr[data-key]").forEach(function (tr) {
        var label = tr.getAttribute("data-key"), a = agg[label];
        STAGES.forEach(function (s) { setCell(tr, "entered_" + s, a[s], fmtInt(a[s])); });
        setCell(tr, "projects_failed", a.failed, fmtInt(a.failed));
        setCell(tr, "projects_withdrawn", a.withdrawn, fmtInt(a.withdrawn));
        var yi = a.amount / 1e8;
        setCell(tr, "amount_yi", yi, yi.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
        [["application_change_previous", previousLabel(label, 1)],
          ["application_change_year", previousLabel(label, "year")]].forEach(function (p) {
          var before = agg[p[1]];
          var d = before ? a.application - before.application : null;
          setCell(tr, p[0], d, fmtSigned(d));
        });
      });
      if (tables["activity_" + pt]) { tables["activity_" + pt].rows().invalidate("dom"); }
    });
  }

  // --- state: select boxes, the link, the tables ----------------------------------------------
  function readHash() {
    state = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (kv) {
      var i = kv.indexOf("=");
      if (i > 0 && kv.slice(0, 2) === "f.") {
        state[decodeURIComponent(kv.slice(2, i))] = decodeURIComponent(kv.slice(i + 1));
      }
    });
  }
  function hash() {
    var parts = Object.keys(state).filter(function (k) { return state[k]; }).map(function (k) {
      return "f." + encodeURIComponent(k) + "=" + encodeURIComponent(state[k]);
    });
    return parts.length ? "#" + parts.join("&") : "";
  }
  function updateLinks() {
    var h = hash();
    document.querySelectorAll("a[href]").forEach(function (a) {
      var href = a.getAttribute("href");
      if (/^(https?:|mailto:|#)/.test(href) || !/\.html(#.*)?$/.test(href)) { return; }
      a.setAttribute("href", href.replace(/#.*$/, "") + h);
    });
  }
  function apply() {
    document.querySelectorAll("select[data-filter]").forEach(function (sel) {
      sel.value = state[sel.getAttribute("data-filter")] || "";
    });
    recomputeActivity();
    Object.keys(tables).forEach(function (k) { tables[k].draw(); });
    if (!window.DataTable) {
      document.querySelectorAll("table[data-table] tbody tr").forEach(function (tr) {
        tr.hidden = !rowMatches(tr);
      });
    }
    history.replaceState(null, "", location.pathname + location.search + hash());
    updateLinks();
  }
  document.querySelectorAll("select[data-filter]").forEach(function (sel) {
    sel.addEventListener("change", function () {
      state[sel.getAttribute("data-filter")] = sel.value;
      apply();
    });
  });
  var reset = document.getElementById("filter-reset");
  if (reset) { reset.addEventListener("click", function () { state = {}; apply(); }); }
  window.addEventListener("hashchange", function () { readHash(); apply(); });

  // --- drill-downs -------------------------------------------------------------------------------
  function drill(kind, stage) {
    if (kind === "stage") { // the page's project list: the projects that reached the stage
      state.stage = stage;
      apply();
      var list = document.getElementById("projects");
      if (list) { list.scrollIntoView(); }
    } else if (kind === "leaderboard" && tables.leaderboard) { // cities behind the stage
      var col = stage === "opportunity" ? "opportunities_published" : "projects_reached_" + stage;
      var th = document.querySelector('table[data-table="leaderboard"] thead th[data-col="' + col + '"]');
      if (th) {
        tables.leaderboard.order([th.cellIndex, "desc"]).draw();
        document.getElementById("leaderboard").scrollIntoView();
      }
    }
  }

  readHash();
  apply();
  document.documentElement.setAttribute("data-ready", "true");
})();
