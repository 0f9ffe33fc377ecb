#!/usr/bin/env bash
# Debian packages the project needs. `run`: fonts and Pango for the PDF summary (WeasyPrint).
# `test`: the same plus Chromium for the end-to-end and accessibility tests, and the ClamAV daemon
# (clamav-daemon, /usr/sbin/clamd) that the antivirus tests start with a database of their own,
# openssl (a self-signed certificate for the SMTP TLS and nginx tests), nginx (the deployment
# test runs Debian's nginx, as the current user, in front of the service), poppler-utils
# (pdfinfo: the printable documents are tagged PDFs of one page) and PostgreSQL (the tests start a
# server of their own from its binaries, /usr/lib/postgresql/*/bin; the cluster the package
# creates is not used).
set -euo pipefail
pkgs=(libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)
[ "${1:-run}" = test ] && pkgs+=(chromium clamav-daemon openssl nginx poppler-utils postgresql)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installation des paquets Debian manquants : ${missing[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
