#!/bin/bash
# bench/report.sh [LOG...] - read the "BENCH module=M round=R test=T
# value=V unit=U" lines of the bench boots (default build/logs/bench.log and
# the memory boots' build/logs/bench-mem-*.log), write bench/report.md and
# bench/*.png, and print the ratios.
#
# For every test and module: median over the rounds, min..max, and spread =
# (max - min) / median.  Ratios are paired by round (ours in round r over
# stock in round r), then the median and min..max of those per-round ratios
# are given.  stock2 is the stock module loaded a second time in the same
# round: stock2/stock is the noise floor.  "noise" in the goals is the largest
# |stock2/stock - 1| of any round for that test.
#
# Multi-job rows (mj1-*, mjN-*) get tables of their own: throughput with
# ours/stock, stock2/stock, noise and ours/raw (the raw file test
# CFG-JOB[-ext4]-raw, paired per round too), CPU seconds per GiB (tests
# *-cpu) with ours/stock, and their goals: mj1 ours >= 1.5x stock and
# >= 0.7x raw; every row not below stock beyond the noise, and CPU per GiB
# <= 1.10x stock.  They stay out of the single-job tables, goals and plot;
# their plot is ratios-multi.png.
#
# Exit status: 0 if the report was written (goals met or not), 1 if the log
# holds no results.
set -uo pipefail

cd "$(dirname "$0")/.."
if [ $# -gt 0 ]; then
	LOGS=("$@")
else
	LOGS=(build/logs/bench.log)
	for f in build/logs/bench-mem-*.log; do
		[ -f "$f" ] && LOGS+=("$f")
	done
fi
OUT=bench
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

for f in "${LOGS[@]}"; do
	[ -f "$f" ] || { echo "report: $f not found" >&2; exit 1; }
done

# Normalise: results may share a console line with kernel messages.
cat "${LOGS[@]}" | tr -d '\r' > "$TMP/log"
grep -ao 'BENCH module=[^ ]* round=[0-9]* test=[^ ]* value=[-0-9.]* unit=[^ ]*' "$TMP/log" \
	> "$TMP/results"
[ -s "$TMP/results" ] || { echo "report: no BENCH results in ${LOGS[*]}" >&2; exit 1; }
grep -ao 'BENCH-INFO.*' "$TMP/log" > "$TMP/info" || true
grep -ao 'BENCH-ERROR.*' "$TMP/log" > "$TMP/errors" || true

# Busy share and CPU per operation of the mj1 rows, from BENCH-INFO.
awk '
function kv(s,   i) { i = index(s, "="); return substr(s, i + 1) }
function med(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^BENCH-INFO module=.* test=mj1-.* busy=/ {
	m = t = ""; busy = wall = kib = jobs = 0
	for (i = 2; i <= NF; i++) {
		if ($i ~ /^module=/) m = kv($i)
		else if ($i ~ /^test=/) t = kv($i)
		else if ($i ~ /^jobs=/) jobs = kv($i)
		else if ($i ~ /^busy=/) { busy = kv($i); sub(/jiffies/, "", busy) }
		else if ($i ~ /^wall=/) { wall = kv($i); sub(/s$/, "", wall) }
		else if ($i ~ /^io=/) { kib = kv($i); sub(/KiB/, "", kib) }
	}
	if (m == "stock2" || wall <= 0 || kib <= 0) next
	row = t; sub(/-(raw|buffered|dio)$/, "", row); sub(/-ext4$/, "-ext4", row)
	if (t ~ /-raw$/) mode = "raw"; else if (t ~ /-dio$/) mode = "dio"; else mode = "buffered"
	key = row SUBSEP mode SUBSEP m
	op = (t ~ /seq/) ? 1024 : 4
	n = ++cnt[key]
	sh[key, n] = busy / (wall * 100 * ncpu)
	us[key, n] = busy * 10000 / (kib / op)
	rows[row] = 1; seen[key] = 1
}
function cell(key,   n, i, a, b) {
	n = cnt[key]
	if (!n) return "-"
	for (i = 1; i <= n; i++) { a[i] = sh[key, i]; b[i] = us[key, i] }
	return sprintf("%.0f%% / %.0f", 100 * med(a, n), med(b, n))
}
END {
	for (r in rows)
		printf "| %s | %s | %s | %s | %s | %s |\n", r,
			cell(r SUBSEP "raw" SUBSEP "raw"),
			cell(r SUBSEP "buffered" SUBSEP "stock"),
			cell(r SUBSEP "buffered" SUBSEP "ours"),
			cell(r SUBSEP "dio" SUBSEP "stock"),
			cell(r SUBSEP "dio" SUBSEP "ours")
}' ncpu="$(sed -n 's/.*cpus=\([0-9]*\).*/\1/p' "$TMP/log" | head -n 1)" "$TMP/info" |
	LC_ALL=C sort > "$TMP/mjbusy"
if [ -s "$TMP/mjbusy" ]; then
	{
		echo "| row | raw: busy / CPU/op | stock buffered | ours buffered | stock dio | ours dio |"
		echo "|---|---|---|---|---|---|"
		cat "$TMP/mjbusy"
	} > "$TMP/md-mjbusy"
fi

awk -v tmp="$TMP" '
function kv(s,   i) { i = index(s, "="); return substr(s, i + 1) }
# Median, min, max of the n values in a[1..n] (sorted in place).
function sortn(a, n,   i, j, t) {
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
}
function med(a, n) { sortn(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
function higher(u) { return u == "iops" || u == "MiB/s" || u == "pairs/s" }
function fmt(v) {
	if (v == "") return "-"
	if (v >= 100 || v <= -100) return sprintf("%.0f", v)
	if (v >= 10 || v <= -10) return sprintf("%.1f", v)
	return sprintf("%.3g", v)
}
function abs(x) { return x < 0 ? -x : x }
# stats(mod, test) -> sets M, LO, HI, N
function stats(m, t,   r, n, a) {
	n = 0
	for (r = 1; r <= maxr; r++) if ((m, t, r) in V) a[++n] = V[m, t, r]
	N = n; if (!n) { M = LO = HI = ""; return }
	M = med(a, n); LO = a[1]; HI = a[n]
}
# ratios(num, den, test) -> RM, RLO, RHI, RN (per-round ratios)
function ratios(x, y, t,   r, n, a) {
	n = 0
	for (r = 1; r <= maxr; r++)
		if ((x, t, r) in V && (y, t, r) in V && V[y, t, r] != 0) a[++n] = V[x, t, r] / V[y, t, r]
	RN = n; if (!n) { RM = RLO = RHI = ""; return }
	RM = med(a, n); RLO = a[1]; RHI = a[n]
}
# ratios2(num, numtest, den, dentest): per-round ratios of two tests -> RM, RLO, RHI, RN
function ratios2(x, tx, y, ty,   r, n, a) {
	n = 0
	for (r = 1; r <= maxr; r++)
		if ((x, tx, r) in V && (y, ty, r) in V && V[y, ty, r] != 0) a[++n] = V[x, tx, r] / V[y, ty, r]
	RN = n; if (!n) { RM = RLO = RHI = ""; return }
	RM = med(a, n); RLO = a[1]; RHI = a[n]
}
function rtxt(bold) { return RM == "" ? "-" : sprintf(bold ? "**%.3f** (%.3f..%.3f)" : "%.3f (%.3f..%.3f)", RM, RLO, RHI) }
# One cell of the multi-job goals: counts it overall and by kind.
function mjgoal(kind, ok, text) {
	nmg++; if (ok) nmgmet++
	if (!(kind in KN)) KORD[++nk] = kind
	KN[kind]++; if (ok) KM[kind]++
	return text " " (ok ? "**met**" : "**not met**")
}
function noise(t,   r, x, m) {
	m = 0
	for (r = 1; r <= maxr; r++)
		if (("stock2", t, r) in V && ("stock", t, r) in V && V["stock", t, r] != 0) {
			x = abs(V["stock2", t, r] / V["stock", t, r] - 1); if (x > m) m = x
		}
	return m
}
function spread(m, lo, hi) { return (m == "" || m == 0) ? "-" : sprintf("%.0f%%", 100 * (hi - lo) / m) }
# Each loop device row as a fraction of the raw-file test "<row><suffix>";
# RAW[suffix, module, mode, row] keeps the fractions for the goals.
function bound_table(out, suffix, title,   i, t, b, rm, rs, line, k, L, p) {
	print "| test | " title " median (spread) | stock buffered / raw | ours buffered / raw | stock dio / raw | ours dio / raw |" > out
	print "|---|---|---|---|---|---|" > out
	for (i = 1; i <= nt; i++) {
		t = order[i]
		if (substr(t, length(t) - length(suffix) + 1) != suffix) continue
		b = substr(t, 1, length(t) - length(suffix))
		stats("raw", t); rm = M; rs = sprintf("%s %s (%s)", fmt(M), U[t], spread(M, LO, HI))
		line = "| " b " | " rs
		split("stock-buffered ours-buffered stock-dio ours-dio", L, " ")
		for (k = 1; k <= 4; k++) {
			split(L[k], p, "-"); stats(p[1], b "-" p[2])
			line = line " | " ((M == "" || rm == "" || rm == 0) ? "-" : sprintf("%.3f", M / rm))
			RAW[suffix, p[1], p[2], b] = (M == "" || rm == "" || rm == 0) ? "" : M / rm
		}
		print line " |" > out
	}
	close(out)
}
function goal(name, measured, target, ok, nz, extra) {
	ng++
	G[ng] = sprintf("| %s | %s | %s | %s |", name, measured, target, (ok ? "**met**" : "**not met**") extra)
	if (ok) gmet++
	SUM[ng] = sprintf("%-44s %-26s %s", name, measured, ok ? "met" : "NOT MET")
}
{
	m = kv($2); r = kv($3) + 0; t = kv($4); v = kv($5) + 0; u = kv($6)
	if (!(t in U)) { order[++nt] = t; U[t] = u }
	V[m, t, r] = v
	if (r > maxr) maxr = r
}
END {
	md = tmp "/md"; pd = tmp "/plot-data.dat"; pc = tmp "/plot-ctl.dat"; pg = tmp "/plot-getfree.dat"
	print "| test | unit | stock median (min..max, spread) | ours median (spread) | stock2 median (spread) | **ours/stock** (per-round min..max) | stock2/stock (min..max) |" > md
	print "|---|---|---|---|---|---|---|" > md
	for (i = 1; i <= nt; i++) {
		t = order[i]
		if (t ~ /-(file|uring)$/ || t ~ /^getfree-n/ || t ~ /^mj/) continue
		stats("stock", t); s = sprintf("%s (%s..%s, %s)", fmt(M), fmt(LO), fmt(HI), spread(M, LO, HI))
		stats("ours", t); o = sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
		stats("stock2", t); c = sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
		ratios("ours", "stock", t); ro = RM == "" ? "-" : sprintf("**%.3f** (%.3f..%.3f)", RM, RLO, RHI); om = RM; olo = RLO; ohi = RHI
		ratios("stock2", "stock", t); rc = RM == "" ? "-" : sprintf("%.3f (%.3f..%.3f)", RM, RLO, RHI)
		printf "| %s | %s (%s) | %s | %s | %s | %s | %s |\n", t, U[t], higher(U[t]) ? "higher is better" : "lower is better", s, o, c, ro, rc > md
		# Plots: advantage of ours (and stock2) over stock, >1 = better.
		if (om != "") {
			if (higher(U[t])) { a = om; alo = olo; ahi = ohi; b = RM; blo = RLO; bhi = RHI }
			else { a = 1 / om; alo = 1 / ohi; ahi = 1 / olo; b = (RM == "" ? 1 : 1 / RM); blo = (RHI == "" ? 1 : 1 / RHI); bhi = (RLO == "" ? 1 : 1 / RLO) }
			line = sprintf("%s %g %g %g %g %g %g", t, a, alo, ahi, b, blo, bhi)
			if (t ~ /-(buffered|dio)$/) print line > pd; else print line > pc
		}
	}
	close(md)

	# GET_FREE against N.
	gt = tmp "/md-getfree"
	print "| N | stock median ns (spread) | ours median ns (spread) | stock2 median ns | ours/stock |" > gt
	print "|---|---|---|---|---|" > gt
	ng_n = 0
	for (i = 1; i <= nt; i++) {
		t = order[i]; if (t !~ /^getfree-n/) continue
		n = substr(t, 10) + 0; GN[++ng_n] = n
		stats("stock", t); s = sprintf("%s (%s)", fmt(M), spread(M, LO, HI)); sm = M
		stats("ours", t); o = sprintf("%s (%s)", fmt(M), spread(M, LO, HI)); oo = M
		stats("stock2", t); c = fmt(M); cm = M
		ratios("ours", "stock", t)
		printf "| %d | %s | %s | %s | %s |\n", n, s, o, c, RM == "" ? "-" : sprintf("%.4f (%.4f..%.4f)", RM, RLO, RHI) > gt
		printf "%d %s %s %s\n", n, sm, oo, (cm == "" ? "NaN" : cm) > pg
	}
	close(gt)

	# Allocate and bind: LOOP_CTL_CONFIGURE against the three calls.
	at = tmp "/md-allocbind"
	print "| way | stock median us (spread) | ours median us (spread) | stock2 median us |" > at
	print "|---|---|---|---|" > at
	split("allocbind-3calls allocbind-ctl", L, " ")
	for (k = 1; k <= 2; k++) {
		t = L[k]
		stats("stock", t); s = M == "" ? "- (no such ioctl)" : sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
		stats("ours", t); o = M == "" ? "-" : sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
		stats("stock2", t); c = M == "" ? "-" : fmt(M)
		printf "| %s | %s | %s | %s |\n", k == 1 ? "GET_FREE + open + LOOP_CONFIGURE" : "LOOP_CTL_CONFIGURE", s, o, c > at
	}
	n = 0; delete ga
	for (r = 1; r <= maxr; r++)
		if (("ours", "allocbind-ctl", r) in V && ("stock", "allocbind-3calls", r) in V && V["stock", "allocbind-3calls", r])
			ga[++n] = V["ours", "allocbind-ctl", r] / V["stock", "allocbind-3calls", r]
	if (n) {
		x = med(ga, n)
		ALLOCBIND = sprintf("%.3f (%.3f..%.3f)", x, ga[1], ga[n])
		printf "\nours with LOOP_CTL_CONFIGURE / stock with GET_FREE + open + LOOP_CONFIGURE, per round: **%s** (lower is faster).\n", ALLOCBIND > at
	}
	close(at)

	# The raw file: buffered, one at a time (upper bound), and io_uring at depth 32.
	bound_table(tmp "/md-file", "-file", "raw file")
	bound_table(tmp "/md-uring", "-uring", "raw file, io_uring O_DIRECT,")

	# Goals.
	ng = 0; gmet = 0
	for (i = 1; i <= nt; i++) {
		t = order[i]; if (t !~ /-(buffered|dio)$/ || t ~ /^mj/) continue
		ratios("ours", "stock", t); if (RM == "") continue
		nz = noise(t)
		target = (t ~ /^rand(read|write)-qd32-/) ? 1.3 : 1.0
		ok = RM >= target
		extra = (abs(RM - 1) <= nz) ? " (within noise)" : ""
		goal("data " t " ours/stock", sprintf("%.3f (%.3f..%.3f, noise %.0f%%)", RM, RLO, RHI, 100 * nz), ">= " target, ok, nz, extra)
	}
	for (k = 1; k <= 4; k++) {
		mode = k % 2 ? "buffered" : "dio"
		b = k <= 2 ? "seqread" : "seqread-ext4"
		x = RAW["-file", "ours", mode, b]
		if (x != "") goal(b "-" mode " ours / raw file", sprintf("%.3f", x), ">= 0.8", x >= 0.8, 0, "")
	}
	if (ng_n >= 2) {
		nmax = GN[ng_n]
		for (k = 1; k <= 2; k++) {
			m = k == 1 ? "ours" : "stock"
			n = 0; delete ga
			for (r = 1; r <= maxr; r++)
				if ((m, "getfree-n" nmax, r) in V && (m, "getfree-n10", r) in V)
					ga[++n] = V[m, "getfree-n" nmax, r] / V[m, "getfree-n10", r]
			if (n) {
				x = med(ga, n)
				if (m == "ours") goal("GET_FREE ours: N=" nmax " / N=10", sprintf("%.2f (%.2f..%.2f)", x, ga[1], ga[n]), "<= 1.5", x <= 1.5, 0, "")
				else INFO_STOCK_GF = sprintf("%.1f (%.1f..%.1f)", x, ga[1], ga[n])
			}
		}
	}
	nl = split("addremove mem-unbound-total mem-bound-total mem-unbound-slab mem-bound-slab mem-unbound-slabobj mem-bound-slabobj mem-unbound-percpu mem-bound-percpu", L, " ")
	for (k = 1; k <= nl; k++) {
		t = L[k]; ratios("ours", "stock", t); if (RM == "") continue
		nz = noise(t)
		extra = (abs(RM - 1) <= nz) ? " (within noise)" : ""
		if (t == "addremove") goal("ADD+REMOVE pairs/s ours/stock", sprintf("%.3f (%.3f..%.3f, noise %.0f%%)", RM, RLO, RHI, 100 * nz), ">= 1.0", RM >= 1, nz, extra)
		else goal(t " per device ours/stock", sprintf("%.3f (%.3f..%.3f, noise %.0f%%)", RM, RLO, RHI, 100 * nz), "<= 1.0", RM <= 1, nz, extra)
	}
	# Multi-job rows: one fio job per CPU, on one device (mj1-*) or on a
	# device each (mjN-*); the raw files (CFG-JOB[-ext4]-raw); CPU per GiB
	# (TEST-cpu).  One throughput and one CPU table per configuration, then
	# the goals, one line per row.
	nmg = 0; nmgmet = 0; nk = 0
	mg = tmp "/md-mjgoals"; pm = tmp "/plot-multi.dat"; ms = tmp "/mj-summary"
	print "| test | ours/stock (noise) | >= 1.5x stock (mj1) | not below stock beyond noise | ours/raw | >= 0.7x raw (mj1) | CPU/GiB ours/stock (noise) | <= 1.10 |" > mg
	print "|---|---|---|---|---|---|---|---|" > mg
	for (c = 1; c <= 2; c++) {
		cfg = c == 1 ? "mj1" : "mjN"
		mt = tmp "/md-" cfg; mc = tmp "/md-" cfg "-cpu"
		print "| test | unit | stock median (min..max, spread) | ours median (spread) | stock2 median (spread) | **ours/stock** (per-round min..max) | stock2/stock (min..max) | noise | raw median (spread) | **ours/raw** (per-round min..max) | stock/raw |" > mt
		print "|---|---|---|---|---|---|---|---|---|---|---|" > mt
		print "| test | stock CPU s/GiB median (spread) | ours (spread) | stock2 (spread) | raw (spread) | **ours/stock** (per-round min..max) | stock2/stock (min..max) | noise |" > mc
		print "|---|---|---|---|---|---|---|---|" > mc
		for (i = 1; i <= nt; i++) {
			t = order[i]
			if (substr(t, 1, 4) != cfg "-" || t !~ /-(buffered|dio)$/) continue
			rt = t; sub(/-(buffered|dio)$/, "-raw", rt)
			stats("stock", t); s = sprintf("%s (%s..%s, %s)", fmt(M), fmt(LO), fmt(HI), spread(M, LO, HI))
			stats("ours", t); o = sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
			stats("stock2", t); s2 = sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
			stats("raw", rt); rw = M == "" ? "-" : sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
			ratios("stock2", "stock", t); c2 = rtxt(0); b = RM; blo = RLO; bhi = RHI
			nz = noise(t)
			ratios2("stock", t, "raw", rt); sr = RM == "" ? "-" : sprintf("%.3f", RM)
			ratios2("ours", t, "raw", rt); orw = rtxt(1); xr = RM
			ratios("ours", "stock", t); os = rtxt(1); x = RM
			printf "| %s | %s | %s | %s | %s | %s | %s | %.0f%% | %s | %s | %s |\n", t, U[t], s, o, s2, os, c2, 100 * nz, rw, orw, sr > mt
			if (x != "") printf "%s %g %g %g %g %g %g\n", t, x, RLO, RHI, (b == "" ? 1 : b), (blo == "" ? 1 : blo), (bhi == "" ? 1 : bhi) > pm
			# CPU time per GiB (lower is better).
			stats("stock", t "-cpu"); cs = sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
			stats("ours", t "-cpu"); co = sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
			stats("stock2", t "-cpu"); cs2 = sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
			stats("raw", rt "-cpu"); cr = M == "" ? "-" : sprintf("%s (%s)", fmt(M), spread(M, LO, HI))
			ratios("stock2", "stock", t "-cpu"); cc2 = rtxt(0)
			cnz = noise(t "-cpu")
			ratios("ours", "stock", t "-cpu"); crt = rtxt(1); y = RM
			printf "| %s | %s | %s | %s | %s | %s | %s | %.0f%% |\n", t, cs, co, cs2, cr, crt, cc2, 100 * cnz > mc
			# Goals.
			if (x == "") continue
			line = sprintf("| %s | %.3f (%.0f%%) | ", t, x, 100 * nz)
			line = line (cfg == "mj1" ? mjgoal("mj1 ours >= 1.5x stock", x >= 1.5, sprintf("%.3f", x)) : "-") " | "
			line = line mjgoal("ours not below stock beyond noise", x >= 1 || 1 - x <= nz, sprintf("%.3f", x) (x < 1 && 1 - x <= nz ? " (within noise)" : "")) " | "
			line = line (xr == "" ? "-" : sprintf("%.3f", xr)) " | "
			line = line (cfg == "mj1" && xr != "" ? mjgoal("mj1 ours >= 0.7x raw", xr >= 0.7, sprintf("%.3f", xr)) : "-") " | "
			line = line (y == "" ? "-" : sprintf("%.3f (%.0f%%)", y, 100 * cnz)) " | "
			line = line (y == "" ? "-" : mjgoal("CPU per GiB <= 1.10x stock", y <= 1.1, sprintf("%.3f", y) (y > 1.1 && y - 1 <= cnz ? " (within noise)" : ""))) " |"
			print line > mg
			printf "%-34s ours/stock %6.3f  stock2/stock %-6s  ours/raw %-6s  CPU/GiB ours/stock %s\n", t, x, (b == "" ? "-" : sprintf("%.3f", b)), (xr == "" ? "-" : sprintf("%.3f", xr)), (y == "" ? "-" : sprintf("%.3f", y)) > ms
		}
		close(mt); close(mc)
	}
	close(mg); close(pm)
	if (nmg) {
		MJSUM = sprintf("multi-job: %d of %d goals met", nmgmet, nmg)
		for (k = 1; k <= nk; k++) MJKIND = MJKIND sprintf("  %-36s %d of %d rows\n", KORD[k], KM[KORD[k]], KN[KORD[k]])
		close(ms)
	}

	gf = tmp "/md-goals"
	print "| goal | measured: median of per-round ratios (min..max) | target | result |" > gf
	print "|---|---|---|---|" > gf
	for (k = 1; k <= ng; k++) print G[k] > gf
	close(gf)
	sf = tmp "/summary"
	for (k = 1; k <= ng; k++) print SUM[k] > sf
	printf "%d of %d goals met\n", gmet, ng > sf
	if (INFO_STOCK_GF != "") printf "(stock GET_FREE N=%s / N=10: %s)\n", nmax, INFO_STOCK_GF > sf
	if (ALLOCBIND != "") printf "(allocate-and-bind: ours LOOP_CTL_CONFIGURE / stock GET_FREE+open+LOOP_CONFIGURE: %s)\n", ALLOCBIND > sf
	if (MJSUM != "") {
		printf "%s\n%s", MJSUM, MJKIND > sf
		printf "%s\n", MJSUM > (tmp "/mj-count")
	}
	close(sf)
	printf "%d\n", maxr > (tmp "/rounds")
}' "$TMP/results"

rounds=$(cat "$TMP/rounds")
params=$(grep -m1 -o 'rounds=.*' "$TMP/info" || true)
cpus=$(echo "$params" | sed -n 's/.* cpus=\([0-9]*\).*/\1/p')
mjruntime=$(echo "$params" | sed -n 's/.* mjruntime=\([^ ]*\).*/\1/p')
host_load=$(grep -c 'qemu-system' /dev/null 2>/dev/null || true)

# Plots.
plots=()
if command -v gnuplot > /dev/null; then
	common='set terminal pngcairo size 1100,520 font "sans,9"
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.6 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -40 scale 0
set rmargin 12
set key top right
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb "red"'
	for kind in data ctl multi; do
		f=$TMP/plot-$kind.dat
		[ -s "$f" ] || continue
		png=$OUT/ratios-$kind.png
		case $kind in
		data) title="data path" ;;
		ctl) title="control path and memory" ;;
		multi) title="multi-job rows" ;;
		esac
		# Four dozen multi-job rows need room.
		size=
		[ $kind = multi ] && size='set terminal pngcairo size 1800,560 font "sans,9"'
		gnuplot <<-GP 2> "$TMP/gnuplot.err" && plots+=("$png") || cat "$TMP/gnuplot.err" >&2
		$common
		$size
		set output "$png"
		set title "$title: advantage over stock (>1 = better than stock; median of $rounds rounds, bars min..max)"
		set ylabel "ratio (higher is better)"
		set yrange [0:*]
		plot "$f" using 2:3:4:xtic(1) title "ours vs stock", "" using 5:6:7 title "stock2 vs stock (control)"
		GP
	done
	f=$TMP/plot-getfree.dat
	if [ -s "$f" ]; then
		png=$OUT/getfree.png
		gnuplot <<-GP 2> "$TMP/gnuplot.err" && plots+=("$png") || cat "$TMP/gnuplot.err" >&2
		set terminal pngcairo size 800,500 font "sans,10"
		set output "$png"
		set title "LOOP_CTL_GET_FREE latency, devices 0..N-1 bound, N free (median)"
		set logscale xy
		set xlabel "N"
		set ylabel "ns per call"
		set grid
		set key top left
		plot "$f" using 1:2 with linespoints lw 2 title "stock", "" using 1:3 with linespoints lw 2 title "ours", "" using 1:4 with linespoints dt 2 title "stock2 (control)"
		GP
	fi
fi

# The report.
{
	echo "# loop.ko benchmark: ours vs Debian's stock 6.12 loop.ko"
	echo
	echo "Generated by \`make bench\` (bench/run.sh, bench/guest-bench.sh, bench/ctlbench.c,"
	more=
	[ ${#LOGS[@]} -gt 1 ] && more=" and $((${#LOGS[@]} - 1)) more (the memory boots)"
	echo "bench/report.sh) from \`${LOGS[0]}\`$more on $(date -u '+%Y-%m-%d %H:%M UTC')."
	echo "One QEMU boot (TCG, no KVM, 2 vCPUs on a 2-core host), $rounds rounds. In every round"
	echo "the stock module, ours and the stock module again (\"stock2\", the control pair that"
	echo "shows the noise floor) are each loaded with \`insmod ... max_loop=0\`, measured and"
	echo "unloaded; odd rounds go stock, ours, stock2, even rounds stock2, ours, stock."
	echo "GET_FREE at N=5000 is measured in round 1 (stock and ours), and stock2 runs the"
	echo "control path in round 1 only. Memory is measured in boots of its own, one per"
	echo "module and round (see Memory)."
	echo "Guest parameters: \`$params\`."
	echo
	echo "Ratios are paired per round (ours in round r / stock in round r); the tables give"
	echo "the median of those per-round ratios and their min..max. Spread = (max - min) / median"
	echo "over the rounds. Under TCG absolute numbers mean little; only the ratios do, and"
	echo "only where they clear the stock2/stock noise."
	echo
	echo "## Goals"
	echo
	cat "$TMP/md-goals"
	echo
	echo "\"within noise\": |ours/stock - 1| is no larger than the largest |stock2/stock - 1| of"
	echo "any round for that row."
	if [ -s "$TMP/mj-count" ]; then
		echo
		echo "Multi-job rows: $(sed 's/^multi-job: //' "$TMP/mj-count") (one line per row in"
		echo "[Multi-job goals](#multi-job-goals))."
	fi
	echo
	if [ -f "$OUT/limits.md" ]; then
		cat "$OUT/limits.md"
		echo
	fi
	echo "## Data path"
	echo
	echo "fio \`--ioengine=io_uring --direct=1 --time_based\` on \`/dev/loopN\` bound (losetup) to a"
	echo "zero-filled file on tmpfs, or (rows \`*-ext4-*\`) to a file on ext4 on a virtio disk"
	echo "(page cache written back and dropped before each module's buffered and dio ext4 jobs); \`-buffered\`: plain loop device,"
	echo "\`-dio\`: \`losetup --direct-io=on\` (LO_FLAGS_DIRECT_IO; the guest logs \`/sys/block/loopN/loop/dio\`)."
	echo "Sequential: 1 MiB blocks, queue depth 8, MiB/s. Random: 4 KiB, queue depth 1 or 32, IOPS."
	echo
	echo "![data path ratios](ratios-data.png)"
	echo
	echo "## All rows"
	echo
	cat "$TMP/md"
	echo
	echo "## Upper bound: the same fio jobs on the raw backing file"
	echo
	echo "fio \`--ioengine=psync --direct=0\` (plain buffered read(2)/write(2), queue depth 1)"
	echo "on the backing file itself, the fastest way to it: the loop device cannot beat"
	echo "the page cache it reads from. ext4 rows: page cache dropped first, as for the devices."
	echo
	cat "$TMP/md-file"
	echo
	echo "The random jobs at queue depth 32 again on the raw file, through io_uring with"
	echo "O_DIRECT (tmpfs takes it too): what the backing store does at that depth with"
	echo "no block device on top."
	echo
	cat "$TMP/md-uring"
	echo
	if [ -s "$TMP/md-mjgoals" ] && [ "$(wc -l < "$TMP/md-mjgoals")" -gt 2 ]; then
		echo "## Multi-job rows"
		echo
		echo "fio with one job per guest CPU (\`nproc\`, $cpus here) and \`--group_reporting\`"
		echo "(the aggregate of all jobs), each job on a region of its own of bench.size/nproc"
		echo "MiB; the same six jobs and device options as the single-job rows (io_uring,"
		echo "O_DIRECT on the loop device; \`-buffered\`, \`-dio\`; tmpfs, \`-ext4-\`). Run time"
		echo "\`$mjruntime\` per fio run."
		echo
		echo "- **mj1-**: all jobs on one device, bound to the single-job rows' backing file;"
		echo "  job k works at offset k * size/nproc."
		echo "- **mjN-**: one device per job, each bound to a backing file of its own of"
		echo "  size/nproc (on the same file system), so jobs share neither a device nor a file."
		echo
		echo "raw: the same jobs on the same files and regions without a loop device:"
		echo "io_uring with O_DIRECT at queue depth 32 (as the \`*-uring\` rows), plain"
		echo "buffered \`read(2)\`/\`write(2)\` (psync) otherwise (as the \`*-file\` rows)."
		echo "ours/raw is paired per round like ours/stock. CPU time per GiB: user + nice +"
		echo "system + irq + softirq jiffies of all CPUs (/proc/stat) across the fio run, over"
		echo "the GiB fio moved, in CPU seconds per GiB (lower is better; it counts fio's own"
		echo "CPU too). noise: the largest |stock2/stock - 1| of any round for that row."
		echo
		echo "![multi-job ratios](ratios-multi.png)"
		echo
		echo "### One device, $cpus jobs (mj1)"
		echo
		cat "$TMP/md-mj1"
		echo
		cat "$TMP/md-mj1-cpu"
		echo
		echo "### One device per job, $cpus jobs (mjN)"
		echo
		cat "$TMP/md-mjN"
		echo
		cat "$TMP/md-mjN-cpu"
		echo
		if [ -s "$TMP/md-mjbusy" ]; then
			echo "### Where the CPU goes (mj1)"
			echo
			echo "From the guest's counters of each fio run (\`BENCH-INFO ... busy= wall= io=\`):"
			echo "**busy** is the CPU time of all CPUs over the run's wall time times the CPUs"
			echo "(100% = every CPU busy from fio's start to its exit; fio's start-up and exit"
			echo "keep even the raw file's runs below 80%); **CPU/op** is that CPU time over the"
			echo "operations fio completed (4 KiB for the random jobs, 1 MiB for the sequential"
			echo "ones), in microseconds. Medians over the rounds."
			echo
			cat "$TMP/md-mjbusy"
			echo
		fi
		echo "### Multi-job goals"
		echo
		echo "mj1 rows: ours >= 1.5x stock and >= 0.7x raw; every row: ours not below stock"
		echo "by more than the noise, and CPU time per GiB no more than 1.10x stock's."
		echo
		cat "$TMP/md-mjgoals"
		echo
	fi
	echo "## Control path"
	echo
	echo "bench/ctlbench (static C, clock_gettime around each ioctl). Starting from no loop"
	echo "device: LOOP_CTL_ADD 0..999 (create-1000), bind devices 0..N-1 with LOOP_CONFIGURE to"
	echo "a 1 MiB tmpfs file so that device N is the lowest free one, then time"
	echo "LOOP_CTL_GET_FREE (median of many calls); LOOP_CLR_FD all, LOOP_CTL_REMOVE 0..999"
	echo "(remove-1000); then LOOP_CTL_ADD(-1)+LOOP_CTL_REMOVE pairs, each timed,"
	echo "pairs/s = 1 / median pair time."
	echo
	echo "![GET_FREE](getfree.png)"
	echo
	cat "$TMP/md-getfree"
	echo
	echo "## Allocate and bind"
	echo
	echo "From no free device to an open fd of a bound device (LO_FLAGS_AUTOCLEAR, so"
	echo "closing the fd unbinds it; the close is not timed), median of bench.iters/4 tries:"
	echo "GET_FREE, open(/dev/loopN), LOOP_CONFIGURE (retrying on EBUSY), against our"
	echo "LOOP_CTL_CONFIGURE, which does all three in one call."
	echo
	cat "$TMP/md-allocbind"
	echo
	echo "![control path and memory ratios](ratios-ctl.png)"
	echo
	echo "## Memory"
	echo
	echo "Each module is measured alone, in a boot of its own that loaded no other loop"
	echo "module before (\`bench.memboot\`, \`looptest.load=0\`), stock, ours and stock2 in"
	echo "each memory round: per-CPU memory that a module frees at rmmod stays populated,"
	echo "so in a shared boot the next module would get it for nothing."
	echo "/proc/meminfo after \`sync; echo 3 > drop_caches\`, before and after creating 1000"
	echo "devices (mem-unbound-*) and after binding them all (mem-bound-*, relative to the"
	echo "same baseline, so it is the whole cost of a bound device). total = MemTotal - MemFree;"
	echo "slab = Slab; percpu = Percpu; slabobj = the bytes of the active objects of"
	echo "every cache in /proc/slabinfo (what the slab allocator hands out, without its"
	echo "page rounding). Rows are in the table above; the caches that grew most:"
	echo
	echo '```'
	grep -E 'slabinfo (unbound|bound)' "$TMP/info" | sed 's/^BENCH-INFO //' | sort -u | head -n 24
	echo '```'
	echo
	echo "## Run log"
	echo
	echo '```'
	grep -E 'rounds=|round [0-9]+ order|data done|ctl done|bound|addremove|done rc|mode=|multi-job' "$TMP/info" | head -n 320
	if [ -s "$TMP/errors" ]; then cat "$TMP/errors"; fi
	echo '```'
} > "$OUT/report.md"

echo
echo "bench: ratios (ours/stock, median of per-round ratios; stock2/stock is the noise floor)"
awk '/^\| [a-z]/ && !/^\| test/ {
	n = split($0, f, "|")
	t = f[2]; gsub(/ /, "", t); u = f[3]; sub(/^ */, "", u); sub(/ *$/, "", u)
	o = f[7]; c = f[8]; gsub(/\*/, "", o)
	printf "  %-26s %-34s ours/stock %-24s stock2/stock %s\n", t, u, o, c
}' "$TMP/md"
if [ -s "$TMP/mj-summary" ]; then
	echo
	echo "bench: multi-job rows (median of per-round ratios)"
	sed 's/^/  /' "$TMP/mj-summary"
fi
echo
echo "bench: GET_FREE"
sed -n '3,$p' "$TMP/md-getfree" | sed 's/^/  /'
echo
echo "bench: goals"
sed 's/^/  /' "$TMP/summary"
[ -s "$TMP/errors" ] && { echo "bench: errors in the guest:"; sed 's/^/  /' "$TMP/errors"; }
echo
echo "bench: wrote $OUT/report.md ${plots[*]:-}"
exit 0
