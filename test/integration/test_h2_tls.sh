#!/usr/bin/env bash
# TLS and HTTP/2 connection life: SNI picks the certificate (exact and wildcard names,
# default otherwise), TLS 1.2 session resumption, certificates re-read on SIGHUP, a
# reload that removes a listener sends GOAWAY to its HTTP/2 connections (the in-flight
# stream completes, then the connection closes), and SIGTERM drains HTTP/2 the same way.
source "$(dirname "$0")/lib.sh"
: "${H2_CLIENT:?H2_CLIENT must point to the h2_client test tool}"

cert() { self_signed "$@"; } # cert NAME CN
cert def localhost
cert a a.test
cert wild wild.test

up=$(free_port)
tp=$(free_port)
wp=$(free_port)
w2=$(free_port)
start_test_upstream "$up"
conf() { # conf WITH_SECOND_LISTENER
    cat <<INI
[daemon]
workers = 1
[listener:tls]
address = 127.0.0.1:$tp
protocol = https
tls_certificate = $T/def.pem
tls_key = $T/def.key
tls_sni = a.test $T/a.pem $T/a.key
tls_sni = *.wild.test $T/wild.pem $T/wild.key
cluster = up
[listener:web]
address = 127.0.0.1:$wp
cluster = up
INI
    if [ "$1" = 1 ]; then
        printf '[listener:web2]\naddress = 127.0.0.1:%s\ncluster = up\n' "$w2"
    fi
    printf '[cluster:up]\nendpoints = 127.0.0.1:%s\n' "$up"
}
conf 1 >"$T/w.ini"
start_waspd "$T/w.ini" "$tp"
wait_port "$wp"
wait_port "$w2"

subject() { # subject NAME: the CN the server presents for SNI NAME (or none for "-")
    local sni=()
    [ "$1" != - ] && sni=(-servername "$1")
    openssl s_client -connect "127.0.0.1:$tp" "${sni[@]}" -alpn h2 </dev/null 2>/dev/null |
        sed -n 's/^subject=.*CN *= *\([^,/]*\).*/\1/p' | head -1
}
[ "$(subject a.test)" = a.test ] || fail "SNI a.test got '$(subject a.test)'"
[ "$(subject x.wild.test)" = wild.test ] || fail "SNI x.wild.test got '$(subject x.wild.test)'"
[ "$(subject y.x.wild.test)" = localhost ] || fail "SNI y.x.wild.test: a wildcard is one label"
[ "$(subject other.test)" = localhost ] || fail "SNI other.test got '$(subject other.test)'"
[ "$(subject -)" = localhost ] || fail "no SNI got '$(subject -)'"
out=$(http -k --http2 --resolve "a.test:$tp:127.0.0.1" "https://a.test:$tp/x")
[ "$out" = ok ] || fail "request over SNI a.test: $out"
pass "SNI: exact and wildcard names, default certificate otherwise"

# TLS 1.2 session resumption (session cache / tickets).
openssl s_client -connect "127.0.0.1:$tp" -tls1_2 -sess_out "$T/sess" </dev/null >/dev/null 2>&1
openssl s_client -connect "127.0.0.1:$tp" -tls1_2 -sess_in "$T/sess" </dev/null 2>/dev/null |
    grep -q "^Reused" || fail "TLS 1.2 session not resumed"
pass "TLS session resumption"

# TLS 1.0/1.1 are refused (the client is allowed to try them at security level 0).
if openssl s_client -connect "127.0.0.1:$tp" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
    </dev/null >"$T/tls11.out" 2>&1; then
    grep -q "Protocol *: TLSv1.1" "$T/tls11.out" && fail "TLS 1.1 accepted"
fi
pass "TLS 1.1 refused"

# SIGHUP re-reads the certificate files.
cert def reloaded
kill -HUP "$WASPD_PID"
for _ in $(seq 1 100); do
    grep -q "generation 2 is live" "$T/waspd.err" && break
    sleep 0.05
done
grep -q "generation 2 is live" "$T/waspd.err" || fail "reload not applied"
[ "$(subject -)" = reloaded ] || fail "certificate not re-read on SIGHUP: '$(subject -)'"
pass "certificates re-read on SIGHUP"

# A reload that removes the listener: GOAWAY, the running stream completes, close.
timeout 20 "$H2_CLIENT" get "$w2" /slow/1500 >"$T/rm.out" 2>&1 &
cl=$!
sleep 0.5
conf 0 >"$T/w.ini"
kill -HUP "$WASPD_PID"
wait "$cl" || fail "h2_client get failed: $(cat "$T/rm.out")"
grep -q "^status 200$" "$T/rm.out" && grep -q "^slow 1500" "$T/rm.out" ||
    fail "in-flight stream on a removed listener: $(tr '\n' ' ' <"$T/rm.out")"
grep -q "^goaway 0$" "$T/rm.out" || fail "no GOAWAY on listener removal: $(tr '\n' ' ' <"$T/rm.out")"
grep -q "^closed$" "$T/rm.out" || fail "connection not closed after removal"
pass "listener removed by reload: GOAWAY, stream completes, connection closes"

# SIGTERM: GOAWAY, the in-flight stream completes, then waspd exits.
timeout 20 "$H2_CLIENT" get "$wp" /slow/1500 >"$T/drain.out" 2>&1 &
cl=$!
sleep 0.5
kill -TERM "$WASPD_PID"
wait "$cl" || fail "h2_client get failed: $(cat "$T/drain.out")"
grep -q "^status 200$" "$T/drain.out" && grep -q "^slow 1500" "$T/drain.out" ||
    fail "in-flight stream on drain: $(tr '\n' ' ' <"$T/drain.out")"
grep -q "^goaway 0$" "$T/drain.out" || fail "no GOAWAY on drain"
grep -q "^closed$" "$T/drain.out" || fail "connection not closed on drain"
for _ in $(seq 1 100); do
    kill -0 "$WASPD_PID" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$WASPD_PID" 2>/dev/null && fail "waspd still running after the drain"
pass "SIGTERM drains HTTP/2: GOAWAY, stream completes, exit"
