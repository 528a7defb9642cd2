"""The paper's published settings for QTLMAS2010 (Waldmann et al. 2020, Materials and Methods and Table 1), written
once: its γ_MA (filters, kernel size, λ) and its training (Adam's learning rate, batch size, epoch cap). Every
default that starts from the paper's numbers reads them here."""

from __future__ import annotations

__all__ = ["PAPER_BATCH_SIZE", "PAPER_EPOCHS", "PAPER_FILTERS", "PAPER_KERNEL_SIZE", "PAPER_L1",
           "PAPER_LEARNING_RATE"]

#: The paper's γ_MA for QTLMAS2010, the convolution's filters F and kernel size K and the output layer's L1 penalty λ.
PAPER_FILTERS, PAPER_KERNEL_SIZE, PAPER_L1 = 64, 27, 0.571
#: Adam's learning rate, the batch size and the epoch cap.
PAPER_LEARNING_RATE, PAPER_BATCH_SIZE, PAPER_EPOCHS = 2.5e-4, 48, 250
