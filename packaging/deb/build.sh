#!/usr/bin/env bash
# Build contrail-mesos_<version>_<arch>.deb from a built binary, offline, with dpkg-deb.
# Usage: packaging/deb/build.sh BINARY VERSION [OUTDIR]
set -euo pipefail
bin=${1:?binary}
version=${2:?version}
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${3:-$top/target/deb}
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

install -D -m 0755 "$bin" "$stage/usr/bin/contrail-mesos"
for a in cni manager fip sg status; do
  ln -s contrail-mesos "$stage/usr/bin/contrail-mesos-$a"
done
# Debian's CNI plugin directory (containernetworking-plugins); point the Mesos agent's
# --network_cni_plugins_dir here, or link the same name into /opt/mesosphere/active/cni on DC/OS.
install -d "$stage/usr/lib/cni"
ln -s ../../bin/contrail-mesos "$stage/usr/lib/cni/contrail-cni-plugin"
for p in "$top"/man/*.1 "$top"/man/*.8; do
  s=${p##*.}
  install -D -m 0644 "$p" "$stage/usr/share/man/man$s/$(basename "$p")"
  gzip -9n "$stage/usr/share/man/man$s/$(basename "$p")"
done
install -D -m 0640 "$top/packaging/contrail-mesos.conf" "$stage/etc/contrail/contrail-mesos.conf"
install -D -m 0644 "$top/packaging/contrail-mesos-manager.service" "$stage/lib/systemd/system/contrail-mesos-manager.service"
install -D -m 0644 "$top/packaging/contrail-cni-plugin.conf" "$stage/usr/share/doc/contrail-mesos/examples/contrail-cni-plugin.conf"
install -D -m 0644 "$top/README.md" "$stage/usr/share/doc/contrail-mesos/README.md"
install -d -m 0755 "$stage/var/lib/contrail/ports/vm"

install -d "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: contrail-mesos
Version: $version
Architecture: $arch
Maintainer: contrail-mesos maintainers <maintainers@contrail-mesos.invalid>
Installed-Size: $size
Depends: adduser
Section: net
Priority: optional
Homepage: https://github.com/contrail-mesos/contrail-mesos
Description: OpenContrail networking for Apache Mesos and Marathon
 One static binary: the CNI plugin the Mesos agent runs (contrail-cni-plugin),
 the manager service that turns tasks and pods into Contrail objects and
 removes orphans, and operator tools for floating IPs, security groups and
 status.
CONTROL
echo /etc/contrail/contrail-mesos.conf > "$stage/DEBIAN/conffiles"
install -m 0755 "$top/packaging/deb/postinst" "$top/packaging/deb/prerm" "$top/packaging/deb/postrm" "$stage/DEBIAN/"

mkdir -p "$out"
deb="$out/contrail-mesos_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-xz}" --build "$stage" "$deb" >/dev/null
echo "$deb"
