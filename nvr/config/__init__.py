"""The TOML configuration: load, expand ``${ENV}``, validate, report every problem.

``load_config(path)`` returns a typed :class:`Config` or raises :class:`ConfigError`,
whose ``problems`` list holds one ``"<key path>: <message>"`` string per problem,
for instance ``cameras[2].url: scheme must be rtsp or rtsps (config.toml line 14)``.

Rules kept here (the reference is ``docs/ref/config.md``):

- Unknown keys are errors (``extra="forbid"`` on every model).
- ``${NAME}`` in any string value is replaced by the environment variable NAME;
  ``$${`` writes a literal ``${``. A missing variable is an error naming the key.
- Sizes (``max_bytes``, ``min_free``) accept ``500GB``, ``20GiB``, ``1.5TB`` or a
  plain number of bytes, and are stored as int bytes.
- Camera passwords never appear in ``repr()``, ``str()`` or error messages.

Layout: :mod:`~nvr.config.loader` (TOML, ``${ENV}``, messages and lines),
:mod:`~nvr.config.model` (the whole file), one module per section
(:mod:`~nvr.config.server`, :mod:`~nvr.config.recording`, :mod:`~nvr.config.cameras`,
:mod:`~nvr.config.sim`) and :mod:`~nvr.config.types` (sizes, ``host:port``, URLs).
"""

from nvr.config.cameras import CameraConfig
from nvr.config.loader import ConfigError, load_config
from nvr.config.model import Config
from nvr.config.recording import RecordingConfig
from nvr.config.server import ServerConfig
from nvr.config.sim import SimConfig
from nvr.config.types import parse_size, redact_url

__all__ = [
    "CameraConfig",
    "Config",
    "ConfigError",
    "RecordingConfig",
    "ServerConfig",
    "SimConfig",
    "load_config",
    "parse_size",
    "redact_url",
]
