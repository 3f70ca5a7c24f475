from __future__ import annotations

import pytest

from datasets.embedded import fashion_mnist_available


@pytest.fixture(scope="session")
def fashion_mnist():
    if not fashion_mnist_available():
        pytest.skip("the embedded Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
