"""rgnet's Hydra configs, installed as the package ``rgnet.conf`` (read through ``pkg://rgnet.conf``)."""
