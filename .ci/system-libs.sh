#!/usr/bin/env bash
# Fails when the Linux build graph (normal and build dependencies, which `cargo build` compiles)
# holds a crate that needs a system library at build time: the build must need nothing but the
# Rust toolchain and a C compiler. Checks the resolved graph for this target, not Cargo.lock
# (which also lists the crates of Windows and macOS, e.g. cpal's alsa-sys).
#   bash .ci/system-libs.sh            # the check CI runs
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu

# Crates that link a system library found through pkg-config or the system's headers.
known=(alsa-sys libdbus-sys openssl-sys libudev-sys libpulse-sys libpulse-simple-sys jack-sys
  pipewire-sys libspa-sys x11 xcb x11-dl-sys libxdo-sys xkbcommon-sys wayland-sys glib-sys
  gobject-sys gio-sys gtk-sys gdk-sys cairo-sys-rs pango-sys freetype-sys servo-fontconfig-sys
  yeslogic-fontconfig-sys expat-sys libusb1-sys hidapi libsqlite3-sys)
# Crates that use pkg-config but compile their own C (a C compiler is allowed): any other user
# is checked by hand and added here only if it needs no system library.
own_c=(aws-lc-sys)

# Prints the crates in the Linux build that depend on crate $1 (`cargo tree -i`, extra options
# after it); prints nothing when $1 is not in that graph. `cargo tree -i` says "nothing to print"
# (exit 0) for a crate that is in Cargo.lock only for another platform, and fails with "did not
# match any packages" for one not in Cargo.lock at all: both mean absent. Any other failure is
# an error of the check itself and ends it.
graph_of() {
  local crate=$1 out
  shift
  if out=$(cargo tree --locked --target "$target" -e normal,build -i "$crate" "$@" 2>"$err"); then
    [ -z "$out" ] || printf '%s\n' "$out"
  elif grep -q 'did not match any packages' "$err"; then
    return 0
  else
    echo "system-libs: cargo tree failed for $crate:" >&2
    cat "$err" >&2
    exit 2
  fi
}

err=$(mktemp)
trap 'rm -f "$err"' EXIT
fail=0
for crate in "${known[@]}"; do
  out=$(graph_of "$crate")
  if [ -n "$out" ]; then
    echo "system-libs: $crate needs a system library at build time and is in the Linux build:" >&2
    echo "$out" >&2
    fail=1
  fi
done

# pkg-config (or system-deps, which wraps it) as a build dependency is the tell-tale of a crate
# that looks for a system library: each crate using it must be one that builds its own C and
# only probes for an installed copy (aws-lc-sys looks for a system AWS-LC and compiles its
# own when there is none, as here).
for finder in pkg-config system-deps; do
  users=$(graph_of "$finder" --depth 1 --prefix none --format '{p}' | awk -v f="$finder" '$1 != f && $1 !~ /^\[/ { print $1 }' | sort -u)
  for crate in $users; do
    case " ${own_c[*]} " in
      *" $crate "*) ;;
      *)
        echo "system-libs: $crate asks $finder for a system library and is in the Linux build;" >&2
        echo "  if it compiles its own C and needs no system library, add it to own_c in $0" >&2
        graph_of "$crate" >&2
        echo >&2
        fail=1
        ;;
    esac
  done
done

if [ "$fail" -ne 0 ]; then
  echo "system-libs: the build must need only the Rust toolchain and a C compiler (README, What it needs)" >&2
  exit 1
fi
echo "system-libs: no crate in the Linux build needs a system library"
