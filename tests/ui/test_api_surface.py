"""What a script sees of the dashboard: exactly the named API, each parameter named, the page's own
events hidden; a refused call is one line for the caller and no traceback in the console."""

import pytest
from browser_kit import dashboard

gradio_client = pytest.importorskip("gradio_client")

NAMED = {"/submit", "/jobs", "/cancel", "/runs", "/run", "/predict"}


def test_scripts_see_exactly_the_named_api_and_a_refusal_is_one_line(tmp_path, capfd):
    with dashboard(tmp_path / "api.duckdb") as (url, lab):
        client = gradio_client.Client(url, verbose=False)
        info = client.view_api(print_info=False, return_format="dict")
        assert set(info["named_endpoints"]) == NAMED and not info["unnamed_endpoints"]
        for name, endpoint in info["named_endpoints"].items():
            names = [p["parameter_name"] for p in endpoint["parameters"]]
            assert all(n and not n.startswith("param_") for n in names), (name, names)
        assert [p["parameter_name"] for p in info["named_endpoints"]["/predict"]["parameters"]] == ["run_id", "texts"]
        for hidden in ("/on_upload", "/run_1", "/refresh", "/show"):  # the page's events: not for scripts
            with pytest.raises(ValueError):
                client.predict(api_name=hidden)
        capfd.readouterr()
        with pytest.raises(Exception, match="unknown method 'nope'"):
            client.predict("tiny", "tweets-sentiment", ["nope"], 1, {}, api_name="/submit")
        with pytest.raises(Exception, match="a submit queues 1 to 1,000 runs \\(methods x seeds\\); this asks for 100,000"):
            client.predict("tiny", "tweets-sentiment", ["lora"], 100_000, {}, api_name="/submit")
        assert lab.jobs() == []
        printed = capfd.readouterr()
        assert "Traceback" not in printed.out + printed.err
