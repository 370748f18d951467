#!/usr/bin/env bash
# Install the pinned terraform, refusing a download whose SHA-256 is not the one HashiCorp publishes
# for that release (terraform_<version>_SHA256SUMS). Used by plan.yml, apply.yml and drift.yml.
#   TERRAFORM_VERSION (pinned in the buildspec), TERRAFORM_ARCH (linux_arm64 on the ARM image)
set -euo pipefail
version="${TERRAFORM_VERSION:?pin TERRAFORM_VERSION}"
arch="${TERRAFORM_ARCH:-linux_arm64}"
base="${TERRAFORM_RELEASES:-https://releases.hashicorp.com/terraform}/${version}"
zip="terraform_${version}_${arch}.zip"
work="$(mktemp -d)"
cd "$work"
curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 -o "$zip" "$base/$zip"
curl --fail --silent --show-error --location --proto '=https' --tlsv1.2 -o SHA256SUMS "$base/terraform_${version}_SHA256SUMS"
grep -E "  ${zip}\$" SHA256SUMS > expected.sha256 || { echo "no published checksum for $zip" >&2; exit 1; }
sha256sum --check --strict expected.sha256
unzip -q "$zip" terraform
install -m 0755 terraform /usr/local/bin/terraform
terraform version
