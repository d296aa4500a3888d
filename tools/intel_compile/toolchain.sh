#!/bin/sh
# Install the offline Intel GPU toolchain under CACHE_DIR (idempotent):
#   CACHE_DIR/triton-xpu  triton-xpu (Intel's Triton, imported as `triton`), installed with --target so
#                         it never replaces the Triton of the project's own environment;
#   CACHE_DIR/ocloc       Intel's offline compiler ocloc and its graphics compiler (IGC) from Debian sid,
#                         run through sid's own loader because the host's glibc may be older;
#   CACHE_DIR/toolchain.stamp  the versions, which the runner folds into its cache key.
# The Debian mirror is read from the machine's own apt sources, and sid is fetched with a private apt
# configuration so the host's apt state is untouched. Downloaded .debs are kept: a second run uses no network.
# PYTHON selects the interpreter whose pip installs triton-xpu (it must be the one that runs the driver,
# because the wheel is built per Python version).
set -eu

TRITON_XPU_VERSION=3.3.0b1
DEBS="intel-ocloc libigc2 libc6 libstdc++6 libgcc-s1 zlib1g"

[ $# -eq 1 ] || { echo "usage: $0 CACHE_DIR" >&2; exit 2; }
mkdir -p "$1"
ROOT=$(cd "$1" && pwd)
PY=${PYTHON:-python3}
STEP="start"
LOG="$ROOT/toolchain.log"

fail() {
    echo "toolchain.sh: failed while $STEP (details: $LOG)" >&2
}
trap 'rc=$?; [ $rc -eq 0 ] || fail' EXIT

# One installer at a time: runners started in parallel share the cache.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$ROOT/.toolchain.lock"
    flock 9
fi
: >"$LOG"

# --- triton-xpu -------------------------------------------------------------------------------------
STEP="installing triton-xpu==$TRITON_XPU_VERSION with $PY -m pip"
TX="$ROOT/triton-xpu"
if [ ! -d "$TX/triton_xpu-$TRITON_XPU_VERSION.dist-info" ] || [ ! -f "$TX/triton/__init__.py" ]; then
    rm -rf "$TX.partial"
    "$PY" -m pip install --quiet --no-deps --no-compile --target "$TX.partial" "triton-xpu==$TRITON_XPU_VERSION" \
        >>"$LOG" 2>&1
    rm -rf "$TX"
    mv "$TX.partial" "$TX"
fi

# --- ocloc + IGC from Debian sid ----------------------------------------------------------------------
OC="$ROOT/ocloc"
A="$OC/apt"
mkdir -p "$OC/debs"
have_all_debs() {
    for p in $DEBS; do
        ls "$OC/debs/${p}_"*.deb >/dev/null 2>&1 || return 1
    done
}
if ! have_all_debs; then
    STEP="reading the Debian mirror from the apt sources"
    MIRROR=$(sed -n 's/^URIs: *\([^ ]*\/debian\)\/* *$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
    [ -n "$MIRROR" ] || MIRROR=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\/debian\)\/* .*/\2/p' \
        /etc/apt/sources.list 2>/dev/null | head -n 1)
    [ -n "$MIRROR" ] || { STEP="looking for a Debian mirror (none in /etc/apt/sources*)"; exit 1; }
    SIGNED=""
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && SIGNED="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "

    STEP="updating a private apt index of sid"
    mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/parts"
    echo "deb ${SIGNED}$MIRROR sid main" >"$A/sources.list"
    : >"$A/status"
    cat >"$A/apt.conf" <<EOC
Dir::State::Lists "$A/lists"; Dir::State::status "$A/status"; Dir::Cache "$A/cache";
Dir::Etc::SourceList "$A/sources.list"; Dir::Etc::SourceParts "$A/parts";
EOC
    APT_CONFIG="$A/apt.conf" apt-get -q update >>"$LOG" 2>&1

    STEP="downloading $DEBS from sid"
    rm -rf "$OC/debs.partial"
    mkdir -p "$OC/debs.partial"
    (cd "$OC/debs.partial" && APT_CONFIG="$A/apt.conf" apt-get -q download $DEBS) >>"$LOG" 2>&1
    rm -rf "$OC/debs"
    mv "$OC/debs.partial" "$OC/debs"
fi

STEP="unpacking the .debs"
if [ ! -f "$OC/root/.unpacked" ]; then
    rm -rf "$OC/root"
    mkdir -p "$OC/root"
    for f in "$OC"/debs/*.deb; do
        dpkg-deb -x "$f" "$OC/root" >>"$LOG" 2>&1
    done
    : >"$OC/root/.unpacked"
fi

STEP="writing the ocloc wrapper"
BIN=$(cd "$OC/root/usr/bin" && ls ocloc-* | head -n 1)
[ -n "$BIN" ] || { STEP="finding ocloc-* in intel-ocloc"; exit 1; }
# The wrapper finds its files relative to itself, so the cache folder can move.
cat >"$OC/ocloc" <<EOC
#!/bin/sh
R=\$(dirname "\$0")/root
exec "\$R/usr/lib64/ld-linux-x86-64.so.2" --library-path "\$R/usr/lib/x86_64-linux-gnu" "\$R/usr/bin/$BIN" "\$@"
EOC
chmod +x "$OC/ocloc"

STEP="running ocloc"
# `ocloc query` writes its answer to a file named after the query in the current folder.
rm -rf "$OC/query"
mkdir -p "$OC/query"
(cd "$OC/query" && "$OC/ocloc" query OCL_DRIVER_VERSION -device pvc) >>"$LOG" 2>&1
OCLOC_DRIVER=$(cat "$OC/query/OCL_DRIVER_VERSION")

STEP="writing the stamp"
{
    echo "triton-xpu=$TRITON_XPU_VERSION"
    echo "ocloc-driver=$OCLOC_DRIVER"
    echo "python=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    for f in "$OC"/debs/*.deb; do
        echo "$(dpkg-deb -f "$f" Package)=$(dpkg-deb -f "$f" Version)"
    done
} >"$ROOT/toolchain.stamp.partial"
mv "$ROOT/toolchain.stamp.partial" "$ROOT/toolchain.stamp"
STEP="done"
echo "toolchain ready: $ROOT ($(tr '\n' ' ' <"$ROOT/toolchain.stamp"))"
