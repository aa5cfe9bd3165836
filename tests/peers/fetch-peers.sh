#!/usr/bin/env bash
# Make the peer tools used by vouch's interop tests available without
# installing anything system-wide:
#   - cosign 2.5 and skopeo 1.18, taken from Debian 13 (trixie) packages and
#     unpacked under a private cache dir, with wrappers in $CACHE/bin;
#   - the pulling clients a registry mirror is proven against, also from
#     trixie: oras 1.2, podman 5.4 (with the conmon, crun and netavark it
#     insists on finding even to pull) and containerd 1.7 with ctr;
#   - Debian's docker-registry (Distribution 2.8), installed from the machine's
#     own (bookworm) apt sources if it is not on PATH;
#   - SoftHSM2 2.6 (a PKCS#11 token kept in files) and OpenSC's pkcs11-tool,
#     also from the host's apt sources: the PKCS#11 tests load SoftHSM2's
#     module into their own process, so it must be built for the host's glibc.
#
# Usage: tests/peers/fetch-peers.sh        (cache: $VOUCH_PEERS_DIR or ~/.cache/vouch-peers)
# Then:  export PATH="$CACHE/bin:$PATH"
#
# A pulling client that cannot run here does not fail the script: the reason
# is written to $CACHE/runtimes.unavailable ("tool<TAB>reason" lines), which
# the e2e harness prints when it skips the tests that need that client.
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
    [libsubid.so.5]=libsubid5
    [libseccomp.so.2]=libseccomp2
    [libyajl.so.2]=libyajl2
    [libsystemd.so.0]=libsystemd0
    [libcap.so.2]=libcap2
    [libgcc_s.so.1]=libgcc-s1
    [libstdc++.so.6]=libstdc++6
)

# The pulling clients. oras, containerd and ctr are Go binaries needing only
# glibc >= 2.34, so they run as they are. podman needs glibc 2.38, and at
# start-up it refuses to work without conmon, an OCI runtime and netavark,
# even though a pull runs none of them (it only probes them): those three come
# along, also glibc >= 2.38. libglib2.0-0t64 is listed because conmon needs
# symbols bookworm's glib 2.74 lacks, which `ld.so --list` cannot see (glib's
# symbols are unversioned). patchelf is used once, here (see patch_elf).
RUNTIME_PKGS=(oras containerd podman conmon crun netavark libglib2.0-0t64 patchelf)
# Dynamically linked trixie binaries that get trixie's loader written in.
PATCHED_BINS=(usr/bin/podman usr/bin/conmon usr/bin/crun usr/lib/podman/netavark)
RUNTIME_TOOLS=(oras podman containerd ctr)

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

# Runs `tool --version` (every symbol resolved at start-up).
tool_runs() {
    local tool=$1
    [ -x "$BIN/$tool" ] || return 1
    case $tool in
        oras) LD_BIND_NOW=1 "$BIN/oras" version >/dev/null 2>&1 ;;
        *) LD_BIND_NOW=1 "$BIN/$tool" --version >/dev/null 2>&1 ;;
    esac
}

# The runtimes were fetched, and each one either runs or has a recorded reason.
runtimes_ready() {
    local tool
    [ -f "$CACHE/runtimes.done" ] || return 1
    for tool in "${RUNTIME_TOOLS[@]}"; do
        if grep -q "^$tool"$'\t' "$CACHE/runtimes.unavailable" 2>/dev/null; then continue; fi
        tool_runs "$tool" || return 1
    done
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

# Add $SUITE packages for any library BINARY (a path under $ROOT) still cannot
# find. ld.so --list stops at the first missing library, so go round until
# nothing is missing. Prints the reason and fails if that cannot be done.
ensure_libs() {
    local bin=$1 out so
    for _ in 1 2 3 4 5 6 7 8; do
        out=$("$(loader)" --library-path "$(libpath)" --list "$ROOT/$bin" 2>&1 || true)
        so=$(printf '%s\n' "$out" |
             sed -n -e 's/.*error while loading shared libraries: \([^:]*\):.*/\1/p' \
                    -e 's/^[[:space:]]*\([^ ]*\) => not found.*/\1/p' | head -n 1)
        [ -n "$so" ] || return 0
        if [ -z "${SONAME_PKG[$so]:-}" ]; then
            echo "${bin##*/} needs $so and no $SUITE package for it is known"
            return 1
        fi
        download_and_unpack "${SONAME_PKG[$so]}" || { echo "download of ${SONAME_PKG[$so]} failed"; return 1; }
    done
    echo "could not satisfy the libraries of ${bin##*/}: $out"
    return 1
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
    rm -rf "$ROOT" "$DEB_DIR" "$BIN" "$CACHE/versions.new" "$CACHE/etc" \
           "$CACHE/runtimes.done" "$CACHE/runtimes.unavailable"
    mkdir -p "$ROOT" "$DEB_DIR"
    download_and_unpack "${BASE_PKGS[@]}"
    [ -x "$(loader)" ] || die "no dynamic loader at $(loader)"
    local why
    why=$(ensure_libs usr/bin/skopeo) || die "$why"
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

# --- the pulling clients -----------------------------------------------------

# Records that TOOL cannot run here, and why (replacing an older reason).
unavailable() {
    local tool=$1 why=$2 f="$CACHE/runtimes.unavailable"
    { grep -v "^$tool"$'\t' "$f" 2>/dev/null || true; printf '%s\t%s\n' "$tool" "$why"; } >"$f.new"
    mv -f "$f.new" "$f"
}

# trixie's patchelf, run under trixie's loader (it needs glibc 2.38).
patchelf_() {
    "$(loader)" --library-path "$(libpath)" "$ROOT/usr/bin/patchelf" "$@"
}

# Writes trixie's loader and library dir into BINARY itself. A wrapper that
# runs the binary through ld.so (as for skopeo) is not enough for podman:
# containers/storage re-executes /proc/self/exe to unpack layers, and under
# such a wrapper that is ld.so, which then fails with "cannot read file data:
# Error 21". The run path is set first, in a call of its own: setting both in
# one patchelf 0.18 call leaves the Go binary crashing at start (SIGSEGV).
patch_elf() {
    local bin="$ROOT/$1"
    patchelf_ --force-rpath --set-rpath "$ROOT/usr/lib/$MULTIARCH:$ROOT/lib/$MULTIARCH" "$bin" >>"$LOG" 2>&1 &&
        patchelf_ --set-interpreter "$(loader)" "$bin" >>"$LOG" 2>&1
}

write_runtime_wrappers() {
    local tool
    mkdir -p "$BIN" "$CACHE/etc"
    # Go binaries that need only glibc >= 2.34: run as they are.
    for tool in oras containerd ctr; do
        cat >"$BIN/$tool.new" <<EOF
#!/bin/sh
# $tool from Debian trixie, unpacked by tests/peers/fetch-peers.sh
R=\$(dirname "\$(readlink -f "\$0")")/../root
exec "\$R/usr/bin/$tool" "\$@"
EOF
    done
    # podman finds its helpers through containers.conf; a caller's own
    # CONTAINERS_CONF replaces this one, CONTAINERS_CONF_OVERRIDE adds to it.
    cat >"$CACHE/etc/containers.conf" <<EOF
# Written by tests/peers/fetch-peers.sh: where the unpacked podman's helpers are.
[engine]
conmon_path = ["$ROOT/usr/bin/conmon"]
helper_binaries_dir = ["$ROOT/usr/lib/podman"]
runtime = "crun"

[engine.runtimes]
crun = ["$ROOT/usr/bin/crun"]
EOF
    cat >"$BIN/podman.new" <<'EOF'
#!/bin/sh
# podman from Debian trixie, unpacked by tests/peers/fetch-peers.sh, with
# trixie's loader written into the binary (it re-executes itself).
C=$(dirname "$(readlink -f "$0")")/..
: "${CONTAINERS_CONF:=$C/etc/containers.conf}"
export CONTAINERS_CONF
exec "$C/root/usr/bin/podman" "$@"
EOF
    for tool in "${RUNTIME_TOOLS[@]}"; do
        chmod 755 "$BIN/$tool.new"
        mv -f "$BIN/$tool.new" "$BIN/$tool"
    done
}

# podman starts its whole runtime (storage, conmon and crun probes, netavark)
# for any command: `info` on throw-away dirs proves the set is complete.
podman_starts() {
    local t rc=0
    t=$(mktemp -d)
    PODMAN_IGNORE_CGROUPSV1_WARNING=1 \
        "$BIN/podman" --root "$t/root" --runroot "$t/run" --tmpdir "$t/tmp" \
        --storage-driver vfs info >"$t/out" 2>&1 || rc=$?
    if [ $rc -ne 0 ]; then
        cat "$t/out" >>"$LOG"
        tail -n 1 "$t/out"
    fi
    rm -rf "$t"
    return $rc
}

fetch_runtimes() {
    local why bin tool
    echo "--- runtimes" >>"$LOG"
    rm -f "$CACHE/runtimes.done" "$CACHE/runtimes.unavailable" "$CACHE/versions.new"
    mkdir -p "$DEB_DIR"
    if ! (apt_update_suite) >>"$LOG" 2>&1 || ! (download_and_unpack "${RUNTIME_PKGS[@]}") >>"$LOG" 2>&1; then
        # Likely passing (network, mirror): recorded, and tried again next run.
        for tool in "${RUNTIME_TOOLS[@]}"; do
            unavailable "$tool" "the $SUITE packages could not be downloaded (see $LOG)"
        done
        rm -rf "$DEB_DIR" "$CACHE/versions.new" "$APT_DIR/lists" "$APT_DIR/cache"
        return 0
    else
        for bin in "${PATCHED_BINS[@]}"; do
            if ! why=$(ensure_libs "$bin"); then
                unavailable podman "$why"
            elif ! patch_elf "$bin"; then
                unavailable podman "patchelf could not set the loader of ${bin##*/} (see $LOG)"
            fi
        done
        write_runtime_wrappers
        for tool in "${RUNTIME_TOOLS[@]}"; do
            grep -q "^$tool"$'\t' "$CACHE/runtimes.unavailable" 2>/dev/null && continue
            if ! tool_runs "$tool"; then
                why=$(LD_BIND_NOW=1 "$BIN/$tool" "$([ "$tool" = oras ] && echo version || echo --version)" 2>&1 | tail -n 1 || true)
                unavailable "$tool" "$tool --version fails here: ${why:-no output}"
            elif [ "$tool" = podman ] && ! why=$(podman_starts); then
                unavailable podman "podman cannot start here: $why"
            fi
        done
    fi
    if [ -f "$CACHE/versions.new" ]; then
        cat "$CACHE/versions" "$CACHE/versions.new" 2>/dev/null |
            awk '{ v[$1] = $0; if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
                 END { for (i = 1; i <= n; i++) print v[order[i]] }' >"$CACHE/versions.tmp"
        mv -f "$CACHE/versions.tmp" "$CACHE/versions"
        rm -f "$CACHE/versions.new"
    fi
    rm -rf "$DEB_DIR" "$APT_DIR/lists" "$APT_DIR/cache"
    touch "$CACHE/runtimes.done"
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

# The PKCS#11 tests (tests/tests/pkcs11.rs): SoftHSM2's module and softhsm2-util, pkcs11-tool.
softhsm_ready() {
    command -v softhsm2-util >/dev/null 2>&1 && command -v pkcs11-tool >/dev/null 2>&1 &&
        { [ -r /usr/lib/softhsm/libsofthsm2.so ] || [ -r /usr/lib/$MULTIARCH/softhsm/libsofthsm2.so ]; }
}

ensure_softhsm() {
    softhsm_ready && return 0
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q --no-install-recommends softhsm2 opensc >>"$LOG" 2>&1 ||
        { as_root apt-get update -q >>"$LOG" 2>&1 || true
          as_root apt-get install -y -q --no-install-recommends softhsm2 opensc >>"$LOG" 2>&1 || true; }
    softhsm_ready || { tail -n 40 "$LOG" >&2; die "could not install softhsm2 and opensc"; }
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
    if ! runtimes_ready; then
        fetch_runtimes
    fi
    ensure_registry
    ensure_openssl
    ensure_softhsm
    local cv sv rt tool v
    cv=$(awk '$1 == "cosign" { print $2 }' "$CACHE/versions" 2>/dev/null)
    sv=$("$BIN/skopeo" --version 2>/dev/null | awk '{ print $NF }')
    cv=${cv%%-*}; cv=${cv%%+*}
    rt=
    for tool in oras podman containerd; do
        if grep -q "^$tool"$'\t' "$CACHE/runtimes.unavailable" 2>/dev/null; then
            rt="$rt $tool (unavailable: $(awk -F'\t' -v t="$tool" '$1 == t { print $2 }' "$CACHE/runtimes.unavailable"))"
        else
            v=$(awk -v t="$tool" '$1 == t { print $2 }' "$CACHE/versions" 2>/dev/null)
            v=${v%%-*}; v=${v%%+*}; v=${v%%~*}
            rt="$rt $tool v${v:-unknown}"
        fi
    done
    rt="$rt softhsm2 v$(softhsm2-util --version 2>/dev/null || echo unknown)"
    echo "peers: cosign v${cv:-unknown} skopeo v${sv:-unknown}$rt in $CACHE"
}

main "$@"
