/* Services on the map as server-side clusters (GET /api/v1/services/clusters: ST_SnapToGrid,
   at most 2,000 points), so the country-wide map stays light with a million services.
   The country-wide map (/map without a position) always shows them; a results map shows
   them once zoomed out beyond its first view (its own results keep their numbered markers).
   Every text reaches the page through textContent: a CSO's service name is never HTML. */
(function () {
  "use strict";
  var holder = document.querySelector("[data-clusters-url]");
  var map = holder && window.L && window[holder.id];
  if (!map || typeof map.getBounds !== "function") return;

  var TILE_PIXELS = 256;
  var CELL_PIXELS = 48;  // as mapservice.queries.clusters.cell_size
  // Clusters are asked for one zoom level coarser than the map's: grid cells of about
  // 96 screen pixels, so the numbered circles (40-56 px) seldom overlap on a phone.
  var COARSER = 1;
  var countryWide = holder.hasAttribute("data-country-wide");
  var startZoom = map.getZoom();
  var results = {};
  (holder.getAttribute("data-result-ids") || "").split(" ").forEach(function (id) {
    if (id) results[id] = true;
  });
  var status = document.querySelector("[data-clusters-status]");
  var layer = L.layerGroup().addTo(map);
  var asked = 0;
  var shownUrl = null;
  var pendingUrl = null;

  function message(name, count) {
    return (holder.getAttribute(name) || "{n}").replace("{n}", count.toLocaleString(document.documentElement.lang || "es"));
  }

  // The view's box, widened to whole grid cells: the same URL for small moves (caches hit).
  function boxUrl(zoom) {
    var cell = 360 / Math.pow(2, zoom) / TILE_PIXELS * CELL_PIXELS;
    var b = map.getBounds();
    function down(x) { return Math.floor(x / cell) * cell; }
    function up(x) { return Math.ceil(x / cell) * cell; }
    var box = [
      Math.max(-180, down(b.getWest())), Math.max(-85, down(b.getSouth())),
      Math.min(180, up(b.getEast())), Math.min(85, up(b.getNorth()))
    ].map(function (x) { return String(Number(x.toFixed(5))); });
    var url = holder.getAttribute("data-clusters-url") + "?bbox=" + box.join(",") + "&zoom=" + zoom;
    var category = holder.getAttribute("data-category");
    return category ? url + "&category=" + encodeURIComponent(category) : url;
  }

  function clusterMarker(c) {
    var label = document.createElement("span");
    label.textContent = c.count.toLocaleString(document.documentElement.lang || "es");
    var size = c.count < 10 ? 40 : c.count < 100 ? 44 : c.count < 1000 ? 48 : 56;
    var marker = L.marker([c.lat, c.lon], {
      icon: L.divIcon({ html: label, className: "cluster", iconSize: [size, size] }),
      title: message("data-msg-cluster", c.count),
      alt: message("data-msg-cluster", c.count),
      keyboard: true,
      zIndexOffset: -1000  // under the results' numbered markers
    });
    marker.on("click", function () {
      map.setView([c.lat, c.lon], Math.min(map.getZoom() + 2, 18));
    });
    return marker;
  }

  function serviceMarker(c) {
    var marker = L.circleMarker([c.lat, c.lon], {
      radius: 8, color: "#ffffff", weight: 2, fillColor: "#0f6b5c", fillOpacity: 1
    });
    var name = c.name == null ? "#" + String(c.id) : String(c.name);
    // Elements, never strings: Leaflet puts a string popup or tooltip in as HTML.
    var link = document.createElement("a");
    link.href = "/services/" + encodeURIComponent(String(c.id));
    link.textContent = name;
    marker.bindPopup(link);
    var tip = document.createElement("span");
    tip.textContent = name;
    marker.bindTooltip(tip);
    return marker;
  }

  function draw(body) {
    layer.clearLayers();
    var shown = 0;
    body.clusters.forEach(function (c) {
      if (c.count === 1 && results[String(c.id)]) return;  // already a numbered marker
      layer.addLayer(c.count === 1 ? serviceMarker(c) : clusterMarker(c));
      shown += c.count;
    });
    if (status) status.textContent = message("data-msg-total", body.total);
    holder.setAttribute("data-clusters-shown", String(shown));
  }

  function refresh() {
    var zoom = Math.round(map.getZoom());
    if (!countryWide && zoom >= startZoom) {
      layer.clearLayers();
      shownUrl = pendingUrl = null;
      asked += 1;
      if (status) status.textContent = "";
      return;
    }
    var url = boxUrl(Math.max(0, zoom - COARSER));
    if (url === shownUrl || url === pendingUrl) return;
    pendingUrl = url;
    var mine = ++asked;
    fetch(url, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (mine !== asked) return;  // a newer view was asked for meanwhile
        pendingUrl = null;
        if (!body) return;
        shownUrl = url;
        draw(body);
      })
      .catch(function () { if (mine === asked) pendingUrl = null; /* offline: the map keeps what it shows */ });
  }

  map.on("moveend", refresh);
  refresh();
})();
