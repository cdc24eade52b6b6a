/* Dashboard maps and the opening-hours builder. Works without it: every field is a plain input. */
(function () {
  "use strict";

  // Street tiles when the site names a tile server for staff pages, else the outline basemap.
  function tiles(map, el) {
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution || "" }).addTo(map);
    } else if (window.mapserviceOutline) {
      window.mapserviceOutline(map, el.dataset.basemapUrl);
    }
  }

  // The organization's services on a map (home page).
  var listEl = document.getElementById("services-map");
  if (listEl && window.L) {
    var points = JSON.parse(document.getElementById(listEl.dataset.pointsId).textContent || "[]");
    var map = L.map(listEl);
    tiles(map, listEl);
    var bounds = [];
    points.forEach(function (p) {
      var marker = L.circleMarker([p.lat, p.lon], {
        radius: 9, weight: 2, color: p.deleted ? "#777" : (p.confidential ? "#8a3b00" : "#0b5cad"),
        fillOpacity: p.deleted ? 0.2 : 0.6
      }).addTo(map);
      var link = document.createElement("a");
      link.href = p.edit;
      link.textContent = p.name;  // text, never HTML
      marker.bindPopup(link);
      bounds.push([p.lat, p.lon]);
    });
    if (bounds.length) { map.fitBounds(bounds, { maxZoom: 14, padding: [20, 20] }); }
  }

  // The service form: tap the map, type coordinates, or pick a town, then drag the pin.
  var editEl = document.getElementById("edit-map");
  if (editEl && window.L) {
    var lat = document.getElementById("latitude");
    var lon = document.getElementById("longitude");
    var emap = L.map(editEl);
    tiles(emap, editEl);
    var pin = null;
    function place(la, lo, zoom) {
      if (pin) { pin.setLatLng([la, lo]); } else {
        pin = L.marker([la, lo], { draggable: true, autoPan: true, keyboard: true, title: "pin" }).addTo(emap);
        pin.on("dragend", function () { var p = pin.getLatLng(); write(p.lat, p.lng); });
      }
      if (zoom) { emap.setView([la, lo], zoom); }
    }
    function write(la, lo) { lat.value = la.toFixed(6); lon.value = lo.toFixed(6); }
    function fromInputs() {
      var la = parseFloat(lat.value), lo = parseFloat(lon.value);
      if (isFinite(la) && isFinite(lo) && Math.abs(la) <= 90 && Math.abs(lo) <= 180) { place(la, lo, Math.max(emap.getZoom() || 0, 14)); return true; }
      return false;
    }
    if (!fromInputs()) { emap.setView([15.5, -88.5], 5); }
    emap.on("click", function (e) { place(e.latlng.lat, e.latlng.lng); write(e.latlng.lat, e.latlng.lng); });
    lat.addEventListener("change", fromInputs);
    lon.addEventListener("change", fromInputs);

    var town = document.getElementById("town"), go = document.getElementById("town-go");
    var results = document.getElementById("town-results"), country = document.getElementById("country");
    function findTown() {
      var q = town.value.trim();
      results.textContent = "";
      if (!q) { return; }
      fetch("/api/v1/places?q=" + encodeURIComponent(q) + "&limit=6", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (places) {
          places.forEach(function (p) {
            var li = document.createElement("li"), b = document.createElement("button");
            b.type = "button"; b.className = "small secondary";
            b.textContent = p.name + (p.admin1 ? ", " + p.admin1 : "") + " (" + p.country + ")";
            b.addEventListener("click", function () {
              place(p.lat, p.lon, 15); write(p.lat, p.lon);
              if (country && !country.value) { country.value = p.country; }
              results.textContent = "";
            });
            li.appendChild(b); results.appendChild(li);
          });
          if (!places.length) { var li = document.createElement("li"); li.textContent = "—"; results.appendChild(li); }
        });
    }
    go.addEventListener("click", findTown);
    town.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); findTown(); } });
  }

  // Opening hours: days + from/to → OpenStreetMap opening_hours rules appended to the field.
  var editor = document.getElementById("hours-editor");
  if (editor) {
    editor.hidden = false;
    var hours = document.getElementById("hours");
    var order = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];
    function dayRanges(days) {
      var idx = days.map(function (d) { return order.indexOf(d); }).sort(), out = [], start = null, prev = null;
      idx.forEach(function (i) {
        if (start === null) { start = prev = i; return; }
        if (i === prev + 1) { prev = i; return; }
        out.push(start === prev ? order[start] : order[start] + "-" + order[prev]); start = prev = i;
      });
      if (start !== null) { out.push(start === prev ? order[start] : order[start] + "-" + order[prev]); }
      return out.join(",");
    }
    document.getElementById("hours-add").addEventListener("click", function () {
      var days = Array.prototype.filter.call(editor.querySelectorAll(".days input"), function (c) { return c.checked; })
        .map(function (c) { return c.value; });
      var from = document.getElementById("hours-from").value, to = document.getElementById("hours-to").value;
      if (!days.length || !from || !to) { return; }
      var rule = dayRanges(days) + " " + from + "-" + to;
      hours.value = hours.value.trim() && hours.value.trim() !== "24/7" ? hours.value.trim() + "; " + rule : rule;
    });
    document.getElementById("hours-247").addEventListener("click", function () { hours.value = "24/7"; });
    document.getElementById("hours-clear").addEventListener("click", function () { hours.value = ""; });
  }
})();
