#!/usr/bin/env bash
# Installs the system packages kyso's tests, demo and release build need,
# skipping those already present. Usage: scripts/install-deps.sh [test|demo|dist]
#
# It only ever installs Debian packages by name. Where it cannot (not root
# and no sudo, or not a Debian-like system) it prints exactly what to install
# and exits 1, so `make test` fails loudly instead of skipping tests.
set -euo pipefail

purpose=${1:-test}

# command-or-file to check -> Debian package that provides it
declare -A need=(
  [softhsm2-util]=softhsm2
  [pkcs11-tool]=opensc
  [pdfsig]=poppler-utils
  [qpdf]=qpdf
  [certutil]=libnss3-tools
  [openssl]=openssl
  [cc]=gcc
  [x86_64-w64-mingw32-gcc]=gcc-mingw-w64-x86-64
  [mutool]=mupdf-tools
  [gs]=ghostscript
  [img2pdf]=img2pdf
  [soffice]=libreoffice-writer-nogui
  [modutil]=libnss3-tools
  # The agent's native dialogs, shown and driven under a virtual display.
  [Xvfb]=xvfb
  [xdotool]=xdotool
  [zenity]=zenity
  [xwd]=x11-apps
  # The JavaScript SDK: built with esbuild and tested with Node's runner.
  [node]=nodejs
  [npm]=npm
  # The demo DMS and the SDK run end to end in Debian's Chromium, driven by
  # playwright-core (which never downloads a browser).
  [chromium]=chromium
  # The tray's StatusNotifierItem, tested on a private session bus.
  [dbus-daemon]=dbus
  # The XDG autostart entry kyso service install writes is validated.
  [desktop-file-validate]=desktop-file-utils
  # The packages (make dist, installer/dist's tests): the .msi is built with
  # wixl, finished and read with msitools, signed with osslsigncode; the
  # .rpm is read with rpm; the manual page is checked with groff.
  [wixl]=wixl
  [msibuild]=msitools
  [msiinfo]=msitools
  [osslsigncode]=osslsigncode
  [rpm]=rpm
  [groff]=groff-base
)
if [ "$purpose" = dist ]; then
  # make dist: the Windows cross-compiler and the .msi and signing tools.
  need=([cc]=gcc [x86_64-w64-mingw32-gcc]=gcc-mingw-w64-x86-64 [wixl]=wixl [msibuild]=msitools [osslsigncode]=osslsigncode)
fi
if [ "$purpose" = demo ]; then
  # The demo needs only the development token; the PKCS#12 fallback covers
  # the rest when even that cannot be installed.
  need=([softhsm2-util]=softhsm2 [pkcs11-tool]=opensc [node]=nodejs [npm]=npm)
fi

missing=()
for cmd in "${!need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${need[$cmd]}")
done
# SoftHSM's module can be present without softhsm2-util on some systems and
# vice versa; the module is what the tests load.
if [ "$purpose" != dist ] && ! ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so >/dev/null 2>&1; then
  missing+=(softhsm2)
fi
# Benchmarks read peak memory through GNU time (the shell's time is a builtin).
if [ "$purpose" != dist ] && [ ! -x /usr/bin/time ]; then
  missing+=(time)
fi
# The test corpus and the embedded font use Liberation Serif (metric-compatible
# with Times New Roman, covers Vietnamese).
if [ "$purpose" = test ] && [ ! -e /usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf ]; then
  missing+=(fonts-liberation2)
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if ! command -v apt-get >/dev/null 2>&1; then
  echo "kyso: missing packages: ${missing[*]}" >&2
  echo "kyso: this is not a Debian-like system; install the equivalents of these Debian packages and run again." >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "kyso: missing packages: ${missing[*]}" >&2
    echo "kyso: not root and no passwordless sudo; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "kyso: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
