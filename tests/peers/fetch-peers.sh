#!/usr/bin/env bash
# Make the peer tools used by vouch's interop tests available without
# installing anything system-wide:
#   - cosign 2.5 and skopeo 1.18, taken from Debian 13 (trixie) packages and
#     unpacked under a private cache dir, with wrappers in $CACHE/bin;
#   - Debian's docker-registry (Distribution 2.8), installed from the machine's
#     own (bookworm) apt sources if it is not on PATH.
#
# Usage: tests/peers/fetch-peers.sh        (cache: $VOUCH_PEERS_DIR or ~/.cache/vouch-peers)
# Then:  export PATH="$CACHE/bin:$PATH"
#
# Idempotent; quiet on success except for one final "peers: ..." line.
set -euo pipefail

CACHE="${VOUCH_PEERS_DIR:-${HOME:-/root}/.cache/vouch-peers}"
SUITE="${VOUCH_PEERS_SUITE:-trixie}"
ARCH=amd64
MULTIARCH=x86_64-linux-gnu

# Packages unpacked from $SUITE. libc6 brings glibc >= 2.38 (skopeo needs it);
# libgpgme11t64 + libassuan9 are skopeo's libraries that bookworm lacks
# (bookworm has no libgpgme at all here, and only libassuan.so.0).
# bookworm's own libsqlite3 (3.40) and libgpg-error (1.46) are new enough;
# they are added from $SUITE only if the host lacks them (see ensure_libs).
BASE_PKGS=(cosign skopeo libc6 libgpgme11t64 libassuan9)
# soname -> $SUITE package, for libraries the host may not have.
declare -A SONAME_PKG=(
    [libgpgme.so.11]=libgpgme11t64
    [libassuan.so.9]=libassuan9
    [libgpg-error.so.0]=libgpg-error0
    [libsqlite3.so.0]=libsqlite3-0
)

APT_DIR="$CACHE/apt"
DEB_DIR="$CACHE/debs"
ROOT="$CACHE/root"
BIN="$CACHE/bin"
LOG="$CACHE/fetch-peers.log"

die() { echo "fetch-peers: $*" >&2; exit 1; }

# Run a command with its output sent to $LOG; on failure show the log.
quiet() {
    if ! "$@" >>"$LOG" 2>&1; then
        echo "fetch-peers: command failed: $*" >&2
        tail -n 40 "$LOG" >&2 || true
        return 1
    fi
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

wrappers_work() {
    [ -x "$BIN/cosign" ] && [ -x "$BIN/skopeo" ] || return 1
    "$BIN/cosign" version >/dev/null 2>&1 || return 1
    LD_BIND_NOW=1 "$BIN/skopeo" --version >/dev/null 2>&1 || return 1
}

# --- mirror URI of this machine's own Debian sources -------------------------
host_mirror() {
    local f uri
    # deb822 .sources: first URI of a "Types: deb" stanza whose Suites has the
    # host's main suite (not -security).
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        uri=$(awk '
            BEGIN { RS = ""; FS = "\n" }
            {
                types = ""; uris = ""; suites = ""
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (line ~ /^Types:/)  { sub(/^Types:[ \t]*/, "", line);  types = line }
                    if (line ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", line);   uris = line }
                    if (line ~ /^Suites:/) { sub(/^Suites:[ \t]*/, "", line); suites = line }
                }
                if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )[a-z]+( |$)/ && uris ~ /debian\/?( |$)/ && uris !~ /security/) {
                    split(uris, u, /[ \t]+/); print u[1]; exit
                }
            }' "$f")
        if [ -n "$uri" ]; then echo "${uri%/}"; return; fi
    done
    # one-line format
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri=$(sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
              awk '$1 == "deb" && $2 ~ /debian\/?$/ && $2 !~ /security/ && $3 !~ /-/ { print $2; exit }')
        if [ -n "$uri" ]; then echo "${uri%/}"; return; fi
    done
    echo "http://deb.debian.org/debian"
}

# --- private apt configuration for $SUITE ------------------------------------
write_apt_conf() {
    local keyring="$1" mirror="$2"
    mkdir -p "$APT_DIR"/{lists/partial,cache/archives/partial,etc/apt.conf.d,etc/sources.list.d,etc/preferences.d}
    : >"$APT_DIR/status"
    echo "deb [signed-by=$keyring] $mirror $SUITE main" >"$APT_DIR/etc/sources.list"
    # Loaded through APT_CONFIG, so Dir::Etc::Parts takes effect before the
    # host's /etc/apt/apt.conf.d would be read: nothing of the host's apt
    # state is read or written.
    cat >"$APT_DIR/apt.conf" <<EOF
Dir::State "$APT_DIR";
Dir::State::Lists "$APT_DIR/lists";
Dir::State::status "$APT_DIR/status";
Dir::Cache "$APT_DIR/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Dir::Etc::SourceList "$APT_DIR/etc/sources.list";
Dir::Etc::SourceParts "$APT_DIR/etc/sources.list.d";
Dir::Etc::Preferences "$APT_DIR/etc/preferences";
Dir::Etc::PreferencesParts "$APT_DIR/etc/preferences.d";
Dir::Etc::Parts "$APT_DIR/etc/apt.conf.d";
Dir::Etc::main "$APT_DIR/etc/apt.conf-none";
APT::Architecture "$ARCH";
APT::Architectures { "$ARCH"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
Acquire::Check-Valid-Until "false";
Acquire::Retries "3";
EOF
}

papt() { APT_CONFIG="$APT_DIR/apt.conf" "$@"; }

apt_update_suite() {
    local mirror keyring
    mirror=$(host_mirror)
    # The bookworm debian-archive-keyring (2023.3+deb12u1 and later) already
    # carries the trixie release keys; fall back to the split keyrings.
    for keyring in /usr/share/keyrings/debian-archive-keyring.gpg \
                   /usr/share/keyrings/debian-archive-"$SUITE"-stable.gpg \
                   /usr/share/keyrings/debian-archive-"$SUITE"-automatic.gpg; do
        [ -r "$keyring" ] || continue
        write_apt_conf "$keyring" "$mirror"
        rm -f "$APT_DIR"/lists/*Release* 2>/dev/null || true
        if papt apt-get -q -o APT::Update::Error-Mode=any update >>"$LOG" 2>&1 &&
           ls "$APT_DIR"/lists/*_dists_"$SUITE"_InRelease >/dev/null 2>&1; then
            return 0
        fi
        echo "--- apt-get update for $SUITE with $keyring failed" >>"$LOG"
    done
    tail -n 40 "$LOG" >&2
    die "could not fetch a verified $SUITE package list from $mirror (update debian-archive-keyring?)"
}

download_and_unpack() {
    local pkg deb f
    (cd "$DEB_DIR" && quiet papt apt-get -q download "$@")
    for pkg in "$@"; do
        deb=
        for f in "$DEB_DIR/${pkg}"_*_"$ARCH".deb "$DEB_DIR/${pkg}"_*_all.deb; do
            if [ -f "$f" ]; then deb=$f; fi
        done
        [ -n "$deb" ] || die "download of $pkg produced no .deb"
        dpkg-deb -x "$deb" "$ROOT"
        printf '%s %s\n' "$pkg" "$(dpkg-deb -f "$deb" Version)" >>"$CACHE/versions.new"
    done
}

loader() { echo "$ROOT/usr/lib64/ld-linux-x86-64.so.2"; }
libpath() { echo "$ROOT/usr/lib/$MULTIARCH:$ROOT/lib/$MULTIARCH"; }

# Add $SUITE packages for any library skopeo still cannot find. ld.so --list
# stops at the first missing library, so go round until nothing is missing.
ensure_libs() {
    local out so
    for _ in 1 2 3 4 5 6; do
        out=$("$(loader)" --library-path "$(libpath)" --list "$ROOT/usr/bin/skopeo" 2>&1 || true)
        so=$(printf '%s\n' "$out" |
             sed -n -e 's/.*error while loading shared libraries: \([^:]*\):.*/\1/p' \
                    -e 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | head -n 1)
        [ -n "$so" ] || return 0
        [ -n "${SONAME_PKG[$so]:-}" ] || die "skopeo needs $so and no $SUITE package for it is known"
        download_and_unpack "${SONAME_PKG[$so]}"
    done
    die "could not satisfy skopeo's libraries: $out"
}

write_wrappers() {
    mkdir -p "$BIN"
    # cosign is a Go binary needing only glibc >= 2.34: bookworm's 2.36 does.
    cat >"$BIN/cosign.new" <<'EOF'
#!/bin/sh
# cosign from Debian trixie, unpacked by tests/peers/fetch-peers.sh
R=$(dirname "$(readlink -f "$0")")/../root
exec "$R/usr/bin/cosign" "$@"
EOF
    # skopeo needs glibc >= 2.38: run it under trixie's own dynamic loader.
    cat >"$BIN/skopeo.new" <<EOF
#!/bin/sh
# skopeo from Debian trixie, unpacked by tests/peers/fetch-peers.sh;
# run through trixie's ld.so since it needs glibc >= 2.38.
R=\$(dirname "\$(readlink -f "\$0")")/../root
exec "\$R/usr/lib64/ld-linux-x86-64.so.2" --argv0 skopeo \\
    --library-path "\$R/usr/lib/$MULTIARCH:\$R/lib/$MULTIARCH" \\
    "\$R/usr/bin/skopeo" "\$@"
EOF
    chmod 755 "$BIN/cosign.new" "$BIN/skopeo.new"
    mv -f "$BIN/cosign.new" "$BIN/cosign"
    mv -f "$BIN/skopeo.new" "$BIN/skopeo"
}

fetch_peers() {
    : >"$LOG"
    command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
    command -v apt-get >/dev/null || die "apt-get not found"
    apt_update_suite
    rm -rf "$ROOT" "$DEB_DIR" "$BIN" "$CACHE/versions.new"
    mkdir -p "$ROOT" "$DEB_DIR"
    download_and_unpack "${BASE_PKGS[@]}"
    [ -x "$(loader)" ] || die "no dynamic loader at $(loader)"
    ensure_libs
    mv -f "$CACHE/versions.new" "$CACHE/versions"
    # Unpacked: drop the .debs and package lists to keep the cache small.
    rm -rf "$DEB_DIR" "$APT_DIR/lists" "$APT_DIR/cache"
    write_wrappers
    if ! wrappers_work; then
        "$BIN/cosign" version >&2 || true
        LD_BIND_NOW=1 "$BIN/skopeo" --version >&2 || true
        die "unpacked cosign/skopeo do not run"
    fi
}

POLICY_RC_CREATED=
cleanup() {
    if [ -n "$POLICY_RC_CREATED" ]; then as_root rm -f "$POLICY_RC_CREATED" || true; fi
}
trap cleanup EXIT

ensure_registry() {
    command -v docker-registry >/dev/null 2>&1 && return 0
    export DEBIAN_FRONTEND=noninteractive
    # Install without starting the packaged service (it would listen on :5000):
    # a policy-rc.d that denies service starts, unless one is already there.
    local policy_rc=/usr/sbin/policy-rc.d
    if [ ! -e "$policy_rc" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy_rc && chmod 755 $policy_rc"
        POLICY_RC_CREATED=$policy_rc
    fi
    if ! as_root apt-get install -y -q --no-install-recommends docker-registry >>"$LOG" 2>&1; then
        # Package lists may be missing or stale on a fresh machine.
        as_root apt-get update -q >>"$LOG" 2>&1 || true
        as_root apt-get install -y -q --no-install-recommends docker-registry >>"$LOG" 2>&1 || true
    fi
    cleanup
    POLICY_RC_CREATED=
    if ! command -v docker-registry >/dev/null 2>&1; then
        tail -n 40 "$LOG" >&2
        die "could not install docker-registry"
    fi
}

# deploy/kubernetes/gen-certs.sh, which tests/tests/kubernetes_manifests.rs runs, needs openssl.
ensure_openssl() {
    command -v openssl >/dev/null 2>&1 && return 0
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q --no-install-recommends openssl >>"$LOG" 2>&1 ||
        { as_root apt-get update -q >>"$LOG" 2>&1 || true
          as_root apt-get install -y -q --no-install-recommends openssl >>"$LOG" 2>&1 || true; }
    command -v openssl >/dev/null 2>&1 || die "could not install openssl"
}

main() {
    mkdir -p "$CACHE"
    CACHE=$(cd "$CACHE" && pwd)
    APT_DIR="$CACHE/apt" DEB_DIR="$CACHE/debs" ROOT="$CACHE/root" BIN="$CACHE/bin" LOG="$CACHE/fetch-peers.log"
    # Serialise concurrent runs sharing one cache.
    exec 9>"$CACHE/.lock"
    flock 9
    : >>"$LOG"
    if ! wrappers_work; then
        fetch_peers
    fi
    ensure_registry
    ensure_openssl
    local cv sv
    cv=$(awk '$1 == "cosign" { print $2 }' "$CACHE/versions" 2>/dev/null)
    sv=$("$BIN/skopeo" --version 2>/dev/null | awk '{ print $NF }')
    cv=${cv%%-*}; cv=${cv%%+*}
    echo "peers: cosign v${cv:-unknown} skopeo v${sv:-unknown} in $CACHE"
}

main "$@"
