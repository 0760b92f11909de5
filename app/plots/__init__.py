"""The plots: loss, accuracy, data and decision regions, confusion matrix, their traces and controls."""
