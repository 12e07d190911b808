"""The worker: claims jobs from the job store and runs them (training, exports, scoring); the edge where a
`Studio` is opened and its stores are handed to the functions that do the work."""
