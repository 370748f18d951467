"""The control plane's shared code, deployed as the Common layer and imported by every Lambda."""
