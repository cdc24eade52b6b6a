/* The outline basemap, drawn under a Leaflet map when the site names no tile server: the
   seven countries, the boundaries of their states, departments and provinces, and the names
   of the largest towns as the map zooms in (GET /api/v1/basemap, about 25 kB once, then
   from the browser's cache).  No request leaves the site, so no tile server learns which
   area a visitor looks at.  Town names are set as text, never as HTML.
   Every map holder with data-basemap-url gets it: Folium maps (their Leaflet map is the
   global named by the holder's id) here, the dashboard's maps through mapserviceOutline(). */
(function () {
  "use strict";
  if (!window.L) return;

  var LAND = { stroke: true, color: "#7d8b99", weight: 1.5, fill: true, fillColor: "#f7f5f0", fillOpacity: 1 };
  var AREAS = { color: "#a9b4bf", weight: 1, dashArray: "4 3", fill: false };
  var requests = {};

  function fetchOnce(url) {
    if (!requests[url]) {
      requests[url] = fetch(url, { credentials: "omit", headers: { Accept: "application/geo+json" } })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); });
    }
    return requests[url];
  }

  // The towns' names, largest first: a name is shown from its min_zoom on, unless it would
  // overlap a larger town's.  Bare elements in the labels pane, not markers: they take no
  // tap, no keyboard focus, and are not among the map's markers for screen readers.
  var TownLabels = L.Layer.extend({
    initialize: function (features) {
      this._towns = features.map(function (f) {
        var xy = f.geometry.coordinates;
        return { latlng: L.latLng(xy[1], xy[0]), name: String(f.properties.name),
                 minZoom: Number(f.properties.min_zoom) || 9, el: null, width: 0 };
      });
      this.options.pane = "outline-labels";
    },
    onAdd: function (map) {
      var pane = this.getPane();
      this._towns.forEach(function (t) {
        t.el = L.DomUtil.create("span", "town-label", pane);
        t.el.textContent = t.name;
        t.el.style.display = "none";
      });
      map.on("zoomend viewreset", this._place, this);
      this._place();
    },
    onRemove: function (map) {
      map.off("zoomend viewreset", this._place, this);
      this._towns.forEach(function (t) { L.DomUtil.remove(t.el); });
    },
    _place: function () {
      var map = this._map;
      var zoom = map.getZoom();
      var taken = [];
      this._towns.forEach(function (t) {
        if (zoom < t.minZoom) { t.el.style.display = "none"; return; }
        var at = map.latLngToLayerPoint(t.latlng);
        t.el.style.display = "";
        if (!t.width) t.width = t.el.offsetWidth || t.name.length * 7;
        var box = { left: at.x - 6, right: at.x + t.width, top: at.y - 10, bottom: at.y + 10 };
        var clash = taken.some(function (b) {
          return box.left < b.right && b.left < box.right && box.top < b.bottom && b.top < box.bottom;
        });
        if (clash) { t.el.style.display = "none"; return; }
        taken.push(box);
        L.DomUtil.setPosition(t.el, at);
      });
    }
  });

  function draw(map, basemap) {
    var shapes = [];
    var towns = [];
    basemap.features.forEach(function (f) {
      var kind = f.properties && f.properties.kind;
      if (kind === "town") towns.push(f);
      else if (kind === "country" || kind === "areas") shapes.push(f);
    });
    L.geoJSON({ type: "FeatureCollection", features: shapes }, {
      pane: "outline",
      interactive: false,
      style: function (f) { return f.properties.kind === "country" ? LAND : AREAS; }
    }).addTo(map);
    new TownLabels(towns).addTo(map);
  }

  // Draw the outline basemap of `url` under `map` (no-op without fetch: the map keeps its markers).
  window.mapserviceOutline = function (map, url) {
    if (!url || !window.fetch) return;
    map.getContainer().classList.add("outline-map");
    // Above where tiles would be (200), under circles and markers (400, 600).
    map.createPane("outline").style.zIndex = 250;
    var labels = map.createPane("outline-labels");
    labels.style.zIndex = 450;
    labels.style.pointerEvents = "none";
    map.attributionControl && map.attributionControl.addAttribution("Natural Earth · GeoNames");
    fetchOnce(url).then(function (basemap) { draw(map, basemap); })
      .catch(function () { /* offline or refused: the map keeps its markers */ });
  };

  function folium() {
    Array.prototype.forEach.call(document.querySelectorAll(".map[data-basemap-url]"), function (holder) {
      var map = window[holder.id];
      if (map && typeof map.getZoom === "function") window.mapserviceOutline(map, holder.getAttribute("data-basemap-url"));
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", folium); else folium();
})();
