"""The admin web UI's templates and static files, served by the gateway under /admin
(rendered by gateway/admin/pages/). No Python logic lives here.

Vendored (no CDN at run time): static/chart.umd.js is Chart.js 4.4.7 (MIT, its licence
in static/chart.umd.js.LICENSE.md), the `dist/chart.umd.js` of `npm pack chart.js@4.4.7`
(sha256 2812cb8825fdc57469eb2f7bb055e9429244e599920511ee477e828499b632cb)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
TEMPLATES = ROOT / "templates"
STATIC = ROOT / "static"
CHART_JS_VERSION = "4.4.7"
