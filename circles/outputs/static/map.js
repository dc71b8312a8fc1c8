// circles' map code (see circles/outputs/webmap.py). It joins only escaped strings (from
// Python) and numbers into HTML; never raw data.
function circlesDecode(g) {
    return g.map(function(poly) {
        return poly.map(function(r) {
            var out = [], x = 0, y = 0;
            for (var i = 0; i < r.length; i += 2) {
                x += r[i]; y += r[i + 1];
                out.push([y / 1e5, x / 1e5]);
            }
            return out;
        });
    });
}
function circlesFmt(v) {
    if (v === null || v === undefined) { return '—'; }
    return Math.round(v).toLocaleString('en-US');
}
function circlesTip(p, M) {
    var name = p.n || p.e;
    if (!p.u) {
        return '<b>' + name + '</b><br>未接入步行网络 not connected to the walking network';
    }
    var s = '<b>' + name + '</b><br>' + M.top.z + '可达 ' + p.r + '/' + M.avail + ' 类 · ' +
        p.r + '/' + M.avail + ' categories within ' + M.top.e;
    if (p.gr) { s += '<br>等级 Grade: ' + p.gr; }
    return s;
}
function circlesPopup(p, M) {
    var name = p.n || '未命名小区 Unnamed area';
    var h = ["<div class='cc-pop'><b>" + name + "</b> <span class='cc-id'>" + p.e + '</span>'];
    var low = p.pl === 1 ?
        " <span class='cc-low'>≈ 估算，置信度低 · low-confidence estimate</span>" : '';
    if (p.p === null || p.p === undefined) {
        h.push('<div>估计人口 Estimated residents: 未知 unknown' + low + '</div>');
    } else {
        h.push('<div>估计人口 Estimated residents: 约 ' + circlesFmt(p.p) + ' 人 (about ' +
               circlesFmt(p.p) + ')' + low + '</div>');
    }
    if (p.pm) { h.push("<div class='cc-note'>估算方法 Estimated by: " + p.pm + '</div>'); }
    if (!p.u) {
        var lim = M.snap || 'the limit';
        h.push("<div class='cc-warn'>未接入步行网络：离最近的可步行道路 " + circlesFmt(p.s) +
               ' m，超过 ' + lim + '，未计入统计。<br>Not connected to the walking network: ' +
               'the nearest walkable street is ' + circlesFmt(p.s) + ' m away (more than ' +
               lim + '); not counted.</div></div>');
        return h.join('');
    }
    if (p.gr) { h.push("<div class='cc-grade'>标准等级 Grade: <b>" + p.gr + '</b></div>'); }
    h.push('<div>' + M.top.z + '步行可达 ' + p.r + '/' + M.avail + ' 类服务 · ' + p.r +
           ' of ' + M.avail + ' service categories within ' + M.top.e + '</div>');
    var missing = {};
    p.m.forEach(function(k) { missing[k] = true; });
    var t = ["<div class='cc-scroll'><table class='cc-table'><tr><th>类别 Category</th>"];
    M.thr.forEach(function(th) { t.push('<th>' + th.z + '</th>'); });
    t.push('<th>最近 Nearest</th></tr>');
    var reached = [], gaps = [];
    M.cats.forEach(function(cat, k) {
        if (p.c[k] === null) {
            gaps.push("<tr class='cc-gap'><td>" + cat.l + "</td><td colspan='" +
                      (M.thr.length + 1) + "'>无数据 no data</td></tr>");
            return;
        }
        var cells = p.c[k].map(function(n) {
            return "<td class='" + (n === 0 ? 'cc-zero' : '') + "'>" + n + '</td>';
        }).join('');
        var near = p.d[k] === null ? '—' : circlesFmt(p.d[k]) + ' m';
        if (missing[k]) {
            t.push("<tr class='cc-miss'><td>✗ " + cat.l + '</td>' + cells + '<td>' + near +
                   '</td></tr>');
        } else {
            reached.push('<tr><td>' + cat.l + '</td>' + cells + '<td>' + near + '</td></tr>');
        }
    });
    t.push(reached.join(''), gaps.join(''), '</table></div>');
    h.push(t.join(''));
    h.push("<div class='cc-note'>数字为步行范围内的设施数量；红色为缺少的服务（排在前面）。" +
           'Numbers are services within walking distance; missing ones are red, at the top.' +
           '</div></div>');
    return h.join('');
}
L.Control.Fullscreen = L.Control.extend({
    options: {position: 'topleft', title: '全屏 Full screen',
              titleCancel: '退出全屏 Exit full screen'},
    onAdd: function(map) {
        var box = L.DomUtil.create('div', 'leaflet-bar leaflet-control cc-fullscreen');
        var a = L.DomUtil.create('a', '', box), o = this.options;
        a.href = '#';
        a.setAttribute('role', 'button');
        a.title = o.title;
        a.setAttribute('aria-label', o.title);
        a.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true">' +
            '<path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#333" ' +
            'stroke-width="2"/></svg>';
        L.DomEvent.disableClickPropagation(box);
        L.DomEvent.on(a, 'click', function(e) {
            L.DomEvent.preventDefault(e);
            var doc = document, el = doc.documentElement;
            if (doc.fullscreenElement) { doc.exitFullscreen(); }
            else if (el.requestFullscreen) { el.requestFullscreen(); }
        });
        L.DomEvent.on(document, 'fullscreenchange', function() {
            var on = !!document.fullscreenElement;
            a.title = on ? o.titleCancel : o.title;
            a.setAttribute('aria-label', a.title);
            map.invalidateSize();
        });
        return box;
    }
});
L.control.fullscreen = function(options) { return new L.Control.Fullscreen(options); };

// ---- Screens: phones get collapsed panels and popups that fit ---------------------------
var CIRCLES_PHONE = '(max-width: 700px)';  // as in map.css
function circlesSmallScreen() { return window.matchMedia(CIRCLES_PHONE).matches; }
// Tooltips only where a pointer hovers: on a touch screen a tap would leave them open.
function circlesHover() { return window.matchMedia('(hover: hover)').matches; }
// Popup options for the screen as it is now: clear of the title panel and of an expanded
// layer control, no wider than the screen, scrolling inside it when taller.
function circlesPopupOptions(width) {
    var control = document.querySelector('.leaflet-control-layers-expanded'), top = 0;
    // below the title and the buttons on the left, which would lie over the popup
    document.querySelectorAll('.cc-title, .leaflet-top.leaflet-left').forEach(function(e) {
        top = Math.max(top, e.getBoundingClientRect().bottom);
    });
    top += 10;
    var right = control ? control.offsetWidth + 20 : 10;
    var room = window.innerWidth - 10 - right - 46;  // 46: the popup's own margins
    if (room < 200) { right = 10; room = window.innerWidth - 66; }
    // 58: the popup's margins, its tip and 10 px below it
    var height = Math.max(150, Math.min(420, window.innerHeight - top - 58));
    return {ccWidth: width, maxWidth: Math.max(120, Math.min(width, room)), maxHeight: height,
            autoPan: true, autoPanPaddingTopLeft: L.point(10, top),
            autoPanPaddingBottomRight: L.point(right, 10)};
}
// On a small screen the layer control, the legend and the title's details start closed
// (a tap opens them); a tap on the map or an opening popup closes them again.
function circlesFitScreen(map, control) {
    map.on('popupopen', function(e) {
        if (circlesSmallScreen()) { circlesClosePanels(control); }
        var o = e.popup.options, want = circlesPopupOptions(o.ccWidth || o.maxWidth);
        function same(a, b) { return !!a && L.point(a).equals(b); }
        if (o.maxWidth !== want.maxWidth || o.maxHeight !== want.maxHeight ||
            !same(o.autoPanPaddingTopLeft, want.autoPanPaddingTopLeft) ||
            !same(o.autoPanPaddingBottomRight, want.autoPanPaddingBottomRight)) {
            L.setOptions(e.popup, want);
            e.popup.update();
        }
    });
    if (!circlesSmallScreen()) { return; }
    control.options.collapsed = true;  // else Leaflet expands it again at every change
    circlesClosePanels(control);
    document.querySelectorAll('details.cc-title').forEach(function(d) { d.open = false; });
    map.on('click', function() { circlesClosePanels(control); });
}
function circlesClosePanels(control) {
    control.collapse();
    document.querySelectorAll('details.cc-legend').forEach(function(d) { d.open = false; });
}

// ---- Services -----------------------------------------------------------------------------
// One category's services from their columns (webmap._service_data).
function circlesServiceSet(rec) {
    var n = rec.x.length, lat = new Float64Array(n), lng = new Float64Array(n);
    var x = 0, y = 0, snap = {};
    for (var i = 0; i < n; i++) {
        x += rec.x[i]; y += rec.y[i];
        lng[i] = x / 1e5; lat[i] = y / 1e5;
    }
    rec.u.forEach(function(i, k) { snap[i] = rec.s[k]; });
    return {n: n, lat: lat, lng: lng, name: rec.n, snap: snap, type: rec.t || '',
            id: rec.o || [], dense: rec.dense === 1};
}
var CIRCLES_OSM = {n: 'node', w: 'way', r: 'relation'};
function circlesServiceName(S, set, i) { return S.names[set.name[i]] || '无名称 unnamed'; }
function circlesServiceUsed(set, i) {
    return !Object.prototype.hasOwnProperty.call(set.snap, i);
}
function circlesServiceTip(S, set, i, cat) {
    return circlesServiceName(S, set, i) + ' · ' + cat.z;
}
function circlesServicePopup(S, set, i, cat) {
    var h = ["<div class='cc-pop'><b>" + circlesServiceName(S, set, i) + '</b>',
             '<div>类别 Category: ' + cat.l + '</div>'];
    var kind = CIRCLES_OSM[set.type.charAt(i)], id = set.id[i];
    if (kind && typeof id === 'number' && id > 0) {
        var ref = kind + '/' + id;
        h.push("<div>OSM: <a href='https://www.openstreetmap.org/" + ref +
               "' target='_blank' rel='noopener'>" + ref + '</a></div>');
    }
    if (!circlesServiceUsed(set, i)) {
        var d = set.snap[i];
        h.push("<div class='cc-warn'>离步行道路太远，未计入 · too far from a walkable street, " +
               'not counted (' + (d === null ? '—' : circlesFmt(d) + ' m') + ')</div>');
    }
    return h.join('') + '</div>';
}

// ---- Many services: clusters on a canvas --------------------------------------------------
// Categories with thousands of services would be thousands of vector markers, which a phone
// cannot pan. CirclesPoints draws them on one canvas per map tile: below clusterBelow the
// services in a square of `cell` pixels are one ring with their count, coloured by category
// (a click zooms in); from there on each service is a dot. Each category is a part, shown
// while its layer (a CirclesPart in the category's group) is on the map.
L.CirclesPoints = L.GridLayer.extend({
    options: {pane: 'circlesPoints', cell: 64, clusterBelow: 17, radius: 6,
              updateWhenZooming: false},
    initialize: function(options) {
        L.GridLayer.prototype.initialize.call(this, options);
        this._parts = [];
    },
    // A category: its services (circlesServiceSet), colour, zh label and tooltip and popup
    // builders ({tip: fn(i), popup: fn(i)}). Returns the layer that shows it.
    part: function(set, color, label, content) {
        var n = set.n, mx = new Float64Array(n), my = new Float64Array(n);
        var lim = 85.0511287798;
        for (var i = 0; i < n; i++) {  // Web Mercator in [0, 1], as Leaflet projects
            var lat = Math.max(-lim, Math.min(lim, set.lat[i]));
            var s = Math.sin(lat * Math.PI / 180);
            mx[i] = set.lng[i] / 360 + 0.5;
            my[i] = 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
        }
        var part = {set: set, color: color, label: label, content: content, on: false,
                    mx: mx, my: my, grids: {}};
        this._parts.push(part);
        return new L.CirclesPart(this, part);
    },
    _show: function(map, part, on) {
        part.on = on;
        var any = this._parts.some(function(p) { return p.on; });
        if (any && !this._map) { map.addLayer(this); }
        else if (!any && this._map) { map.removeLayer(this); }
        else if (this._map) { this.redraw(); }
    },
    onAdd: function(map) {
        L.GridLayer.prototype.onAdd.call(this, map);
        circlesPointsEvents(map).push(this);
    },
    onRemove: function(map) {
        var list = circlesPointsEvents(map);
        list.splice(list.indexOf(this), 1);
        L.GridLayer.prototype.onRemove.call(this, map);
    },
    // A part's services by square of `cell` pixels at zoom z (kept for a few zooms).
    _grid: function(part, z) {
        if (part.grids[z]) { return part.grids[z]; }
        if (Object.keys(part.grids).length > 3) { part.grids = {}; }
        var scale = 256 * Math.pow(2, z), c = this.options.cell, cells = new Map();
        for (var i = 0; i < part.set.n; i++) {
            var px = part.mx[i] * scale, py = part.my[i] * scale;
            var key = Math.floor(py / c) * (Math.ceil(scale / c) + 1) + Math.floor(px / c);
            var cell = cells.get(key);
            if (!cell) { cell = {x: 0, y: 0, members: []}; cells.set(key, cell); }
            cell.x += px; cell.y += py; cell.members.push(i);
        }
        part.grids[z] = cells;
        return cells;
    },
    _clusterRadius: function(n) { return Math.min(24, 11 + 3 * Math.log10(n)); },
    // Calls fn(item) for each cluster ({x, y, n, parts: [[part, members], ...]}) and each
    // lone service ({x, y, part, i}) of zoom z whose square meets the box (pixels of z).
    _items: function(z, x0, y0, x1, y1, fn) {
        var c = this.options.cell, scale = 256 * Math.pow(2, z), wide = Math.ceil(scale / c) + 1;
        var cluster = z < this.options.clusterBelow, self = this;
        var parts = this._parts.filter(function(p) { return p.on; });
        var grids = parts.map(function(p) { return self._grid(p, z); });
        for (var cy = Math.floor(y0 / c); cy <= Math.floor(y1 / c); cy++) {
            for (var cx = Math.floor(x0 / c); cx <= Math.floor(x1 / c); cx++) {
                var key = cy * wide + cx, found = [], n = 0, sx = 0, sy = 0;
                for (var k = 0; k < parts.length; k++) {
                    var cell = grids[k].get(key);
                    if (cell) {
                        found.push([parts[k], cell.members]);
                        n += cell.members.length; sx += cell.x; sy += cell.y;
                    }
                }
                if (cluster && n > 1) {
                    fn({x: sx / n, y: sy / n, n: n, parts: found});
                    continue;
                }
                found.forEach(function(f) {
                    f[1].forEach(function(i) {
                        fn({x: f[0].mx[i] * scale, y: f[0].my[i] * scale, part: f[0], i: i});
                    });
                });
            }
        }
    },
    createTile: function(coords) {
        var tile = L.DomUtil.create('canvas', 'leaflet-tile cc-points');
        var size = this.getTileSize(), ratio = window.devicePixelRatio || 1;
        tile.width = size.x * ratio; tile.height = size.y * ratio;
        var ctx = tile.getContext('2d'), self = this, radius = this.options.radius;
        ctx.scale(ratio, ratio);
        var x0 = coords.x * size.x, y0 = coords.y * size.y, m = 30;
        ctx.font = 'bold 11px Arial, sans-serif';
        ctx.textAlign = 'center'; ctx.textBaseline = 'middle';
        this._items(coords.z, x0 - m, y0 - m, x0 + size.x + m, y0 + size.y + m, function(it) {
            var x = it.x - x0, y = it.y - y0;
            if (it.parts) {  // a ring in the categories' shares, the count inside
                var r = self._clusterRadius(it.n), start = -Math.PI / 2;
                ctx.globalAlpha = 0.9;
                it.parts.forEach(function(f) {
                    var end = start + 2 * Math.PI * f[1].length / it.n;
                    ctx.beginPath(); ctx.moveTo(x, y);
                    ctx.arc(x, y, r, start, end); ctx.closePath();
                    ctx.fillStyle = f[0].color; ctx.fill();
                    start = end;
                });
                ctx.globalAlpha = 1; ctx.beginPath(); ctx.arc(x, y, r * 0.62, 0, 2 * Math.PI);
                ctx.fillStyle = '#ffffff'; ctx.fill();
                ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
                ctx.lineWidth = 1; ctx.strokeStyle = '#ffffff'; ctx.stroke();
                ctx.fillStyle = '#222222'; ctx.fillText(circlesCount(it.n), x, y);
                return;
            }
            var used = circlesServiceUsed(it.part.set, it.i), color = it.part.color;
            ctx.beginPath(); ctx.arc(x, y, radius, 0, 2 * Math.PI);
            ctx.globalAlpha = used ? 0.9 : 0.2; ctx.fillStyle = color; ctx.fill();
            ctx.globalAlpha = 1; ctx.lineWidth = used ? 1 : 1.5;
            ctx.strokeStyle = used ? '#ffffff' : color; ctx.stroke();
        });
        return tile;
    },
    // What lies under a point of the map, within `slop` pixels: a cluster ({d, cluster}) or
    // services ({d, items: [[part, i], ...]}, nearest first); null for nothing.
    hit: function(latlng, slop) {
        var map = this._map, z = this._tileZoom;
        if (!map || z === undefined) { return null; }
        var p = map.project(latlng, z), self = this, best = null, items = [], r = 30 + slop;
        this._items(z, p.x - r, p.y - r, p.x + r, p.y + r, function(it) {
            var d = Math.sqrt((it.x - p.x) * (it.x - p.x) + (it.y - p.y) * (it.y - p.y));
            if (it.parts) {
                if (d <= self._clusterRadius(it.n) + slop && (!best || d < best.d)) {
                    best = {d: d, layer: self, cluster: it};
                }
            } else if (d <= self.options.radius + slop) {
                items.push([d, it.part, it.i]);
            }
        });
        if (items.length) {
            items.sort(function(a, b) { return a[0] - b[0]; });
            if (!best || items[0][0] < best.d) {
                return {d: items[0][0], layer: this,
                        items: items.map(function(a) { return [a[1], a[2]]; })};
            }
        }
        return best;
    },
    // Where a hit is: the first service's position, or null for a cluster.
    where: function(hit) {
        if (!hit.items) { return null; }
        var set = hit.items[0][0].set, i = hit.items[0][1];
        return L.latLng(set.lat[i], set.lng[i]);
    },
    // A click: a cluster zooms in to its services, services open their popup.
    open: function(hit) {
        var map = this._map;
        if (hit.cluster) {
            var b = L.latLngBounds([]);
            hit.cluster.parts.forEach(function(f) {
                f[1].forEach(function(i) { b.extend([f[0].set.lat[i], f[0].set.lng[i]]); });
            });
            var z = map.getBoundsZoom(b, false, L.point(40, 40));
            z = Math.min(Math.max(z, map.getZoom() + 1), this.options.clusterBelow);
            map.setView(b.getCenter(), z);
            return;
        }
        var shown = hit.items.slice(0, 10);
        var html = shown.map(function(f) { return f[0].content.popup(f[1]); }).join('');
        if (hit.items.length > shown.length) {
            var more = circlesFmt(hit.items.length - shown.length);
            html += "<div class='cc-note'>此处还有 " + more + ' 个 · ' + more + ' more here</div>';
        }
        L.popup(circlesPopupOptions(320)).setLatLng(this.where(hit)).setContent(html)
            .openOn(map);
    },
    tip: function(hit) {
        if (hit.cluster) {
            var c = hit.cluster, n = circlesFmt(c.n);
            var each = c.parts.map(function(f) {
                return f[0].label + ' ' + circlesFmt(f[1].length);
            }).join('，');
            return n + ' 个 · ' + n + ' here<br>' + each + '<br>点击放大 · click to zoom in';
        }
        var f = hit.items[0], more = hit.items.length > 1 ? ' (+' + (hit.items.length - 1) + ')' : '';
        return f[0].content.tip(f[1]) + more;
    }
});
// A category's share of a CirclesPoints layer, for its group in the layer control.
L.CirclesPart = L.Layer.extend({
    initialize: function(shared, part) { this._shared = shared; this._part = part; },
    onAdd: function(map) { this._shared._show(map, this._part, true); },
    onRemove: function(map) { this._shared._show(map, this._part, false); }
});
function circlesCount(n) {
    return n < 1000 ? String(n) : (n < 10000 ? (n / 1000).toFixed(1) : Math.round(n / 1000)) + 'k';
}
// The CirclesPoints layers on a map, and the map's listeners for them (set up once): a click
// on a drawn service or cluster goes to it before the shapes beneath it, and the pointer
// shows a tooltip over them.
function circlesPointsEvents(map) {
    if (map._circlesPoints) { return map._circlesPoints; }
    var layers = map._circlesPoints = [], el = map.getContainer(), frame = null;
    var tooltip = L.tooltip({direction: 'top', offset: L.point(0, -8)});
    function at(e, slop) {
        if (!layers.length || !map.getPane('mapPane').contains(e.target)) { return null; }
        if (e.target.closest && e.target.closest('.leaflet-popup, .leaflet-marker-icon')) {
            return null;
        }
        var latlng = map.mouseEventToLatLng(e), best = null;
        layers.forEach(function(layer) {
            var h = layer.hit(latlng, slop);
            if (h && (!best || h.d < best.d)) { best = h; }
        });
        return best;
    }
    el.addEventListener('click', function(e) {
        if (map.dragging && map.dragging.moved()) { return; }
        var hit = at(e, e.pointerType === 'touch' || L.Browser.mobile ? 10 : 3);
        if (!hit) { return; }
        e.stopPropagation();
        map.closeTooltip(tooltip);
        hit.layer.open(hit);
    }, true);
    el.addEventListener('mousemove', function(e) {
        if (frame !== null || !circlesHover()) { return; }
        frame = window.requestAnimationFrame(function() {
            frame = null;
            var hit = at(e, 2);
            el.style.cursor = hit ? 'pointer' : '';
            if (!hit) { map.closeTooltip(tooltip); return; }
            tooltip.setLatLng(hit.layer.where(hit) || map.mouseEventToLatLng(e))
                .setContent(hit.layer.tip(hit));
            map.openTooltip(tooltip);
        });
    }, {passive: true});
    return layers;
}
