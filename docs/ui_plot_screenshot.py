"""Screenshot of an asset's metadata plots in the Dagster UI (run by docs/ui_screenshots.sh).

The plots sit behind a "Plots" toggle, so this drives headless Chromium over the DevTools
protocol: open the page, click the toggle, capture. Needs `websocket-client`.
"""

import base64
import json
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


def main(url: str, out: str, port: int = 9229) -> None:
    browser = subprocess.Popen(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--remote-debugging-port={port}",
            "--window-size=1600,1400",
            f"--user-data-dir={tempfile.mkdtemp()}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            try:
                targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
                break
            except OSError:
                time.sleep(0.2)
        page = next(t for t in targets if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        counter = iter(range(1, 1000))

        def call(method: str, **params):
            message_id = next(counter)
            ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
            while True:
                reply = json.loads(ws.recv())
                if reply.get("id") == message_id:
                    return reply.get("result", {})

        call("Page.enable")
        call("Page.navigate", url=url)
        time.sleep(12)
        for toggle in ("Plots", "Events"):  # numeric metadata plotted over time
            click = (
                "(() => { const label = [...document.querySelectorAll('*')].find("
                f"e => e.childElementCount === 0 && e.textContent.trim() === '{toggle}'"
                " && e.closest('section,div') && e.closest('button,[role=button],label'));"
                f" if (!label) return 'no {toggle} toggle';"
                " label.closest('button,[role=button],label').click(); return 'clicked'; })()"
            )
            print(toggle, call("Runtime.evaluate", expression=click).get("result", {}).get("value"))
            time.sleep(4)
        shot = call("Page.captureScreenshot", format="png")
        with open(out, "wb") as handle:
            handle.write(base64.b64decode(shot["data"]))
    finally:
        browser.terminate()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
