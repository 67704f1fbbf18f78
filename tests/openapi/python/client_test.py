"""A Python client generated from flowgate's OpenAPI document, as the README makes one, used
against a real server: sign in, make a token, ask the decision service, follow a task.

Run by scripts/test (lib.sh: test_openapi) with the generated package on PYTHONPATH and
FLOWGATE_SERVER_BIN naming the server binary.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

from flowgate_client import AuthenticatedClient, Client
from flowgate_client.api.accounts import create_token, login
from flowgate_client.api.limits import check_limits, put_limits
from flowgate_client.api.tasks import create_task, get_task_progress, update_task_progress
from flowgate_client.models import (
    CheckRequest,
    Login,
    NewTask,
    NewToken,
    Problem,
    RateLimitConfig,
    Scope,
    TaskStatus,
    TaskUpdate,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(
            os.environ,
            FLOWGATE_ADDR=f"127.0.0.1:{port}",
            FLOWGATE_DATABASE_URL=f"sqlite://{scratch}/flowgate.db",
            FLOWGATE_ADMIN_PASSWORD="correct-horse-battery",
            FLOWGATE_LOG="warn",
        )
        server = subprocess.Popen([os.environ["FLOWGATE_SERVER_BIN"]], env=env)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            run(base)
        finally:
            server.terminate()
            server.wait(timeout=10)


def run(base: str) -> None:
    # The console's session: a change made with it carries the console's Origin.
    with Client(base_url=base, headers={"Origin": base}) as console:
        me = login.sync(client=console, body=Login(username="admin", password="correct-horse-battery"))
        assert me.username == "admin" and me.role.value == "admin", me
        wrong = login.sync(client=console, body=Login(username="admin", password="wrong-password"))
        assert isinstance(wrong, Problem) and wrong.status == 401, wrong
        token = create_token.sync(client=console, body=NewToken(name="python"))
        assert token.token.startswith("fg_"), token

    with AuthenticatedClient(base_url=base, token=token.token) as worker:
        limits = RateLimitConfig(requests_per_minute=2, max_burst=2)
        stored = put_limits.sync(client=worker, body=limits)
        assert stored.requests_per_minute == 2, stored
        decisions = [
            check_limits.sync(client=worker, body=CheckRequest(key="user_123", endpoint="media"))
            for _ in range(3)
        ]
        assert [d.allowed for d in decisions] == [True, True, False], decisions
        denied = decisions[-1]
        assert denied.scope == Scope.GLOBAL and denied.retry_after > 0, denied
        bad = check_limits.sync(client=worker, body=CheckRequest(key="user_123", cost=0))
        assert isinstance(bad, Problem) and bad.status == 422, bad
        assert bad.errors[0].pointer == "/cost", bad

        task = create_task.sync(client=worker, body=NewTask())
        assert task.status == TaskStatus.QUEUED, task
        update = TaskUpdate(current_step="Captioning", progress_percent=40)
        moved = update_task_progress.sync(task.task_id, client=worker, body=update)
        assert moved.seq == 1 and moved.status == TaskStatus.RUNNING, moved
        again = get_task_progress.sync(task.task_id, client=worker)
        assert again.progress_percent == 40, again
    print("the generated Python client works against the server")


if __name__ == "__main__":
    sys.exit(main())
