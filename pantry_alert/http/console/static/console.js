// pantry-alert console: refresh the active alerts in place (the page works without this script).
"use strict";
(function () {
  var body = document.querySelector("[data-refresh]");
  if (!body) return;
  var url = body.getAttribute("data-refresh");
  var interval = Math.min(parseInt(body.getAttribute("data-interval"), 10) || 10000, 15000);
  var note = document.getElementById("refreshed");
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" }, redirect: "manual" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (rows) {
        body.innerHTML = rows; // server-rendered, escaped rows from this server
        if (note) note.textContent = "Refreshed at " + new Date().toLocaleTimeString() + ".";
      })
      .catch(function (err) {
        if (note) note.textContent = "Could not refresh (" + err.message + "); reload the page.";
      });
  }
  window.setInterval(refresh, interval);
})();
