#!/usr/bin/env bash
# Builds the Lambda base image `sam local` expects, from local files only, for
# machines whose Docker engine cannot pull from a registry (DESIGN §7): a tiny
# rootfs with busybox-static (Debian package) and this host's glibc, imported
# under the name SAM looks for. On a normal machine `sam local` pulls the real
# image and this script is not needed.
set -euo pipefail
IMAGE=public.ecr.aws/lambda/provided:al2023-x86_64
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download busybox-static >/dev/null 2>&1
dpkg-deb -x busybox-static_*.deb pkg
root="$work/rootfs"
mkdir -p "$root"/{bin,lib64,etc/ssl/certs,tmp,var/task,var/runtime,var/rapid,opt/lib,usr/bin,usr/local/bin,root}
cp pkg/bin/busybox "$root/bin/busybox"
for applet in sh mv chmod cp cat ls env mkdir rm sleep; do ln -s busybox "$root/bin/$applet"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
for lib in libc.so.6 libm.so.6 libgcc_s.so.1 libdl.so.2 libpthread.so.0 librt.so.1; do
  cp -L "/lib/x86_64-linux-gnu/$lib" "$root/lib64/"
done
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$root/etc/group"
printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
chmod 1777 "$root/tmp"
tar -C "$root" -c . | docker import --platform linux/amd64 \
  -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  -c 'ENV LD_LIBRARY_PATH=/lib64:/usr/lib64:/var/runtime:/var/task:/opt/lib' \
  -c 'ENV LAMBDA_TASK_ROOT=/var/task' \
  -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
  -c 'WORKDIR /var/task' \
  - "$IMAGE" >/dev/null
echo "built $IMAGE"
