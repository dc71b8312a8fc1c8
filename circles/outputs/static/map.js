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
    if (p.p === null || p.p === undefined) {
        h.push('<div>估计人口 Estimated residents: 未知 unknown</div>');
    } else {
        h.push('<div>估计人口 Estimated residents: 约 ' + circlesFmt(p.p) + ' 人 (about ' +
               circlesFmt(p.p) + ')</div>');
    }
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
    var t = ["<table class='cc-table'><tr><th>类别 Category</th>"];
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
    t.push(reached.join(''), gaps.join(''), '</table>');
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
