# rpact getSimulationSurvival for the comparable design: 120 patients, analysis at 90 events, exponential
# (control median 6 months, HR 0.6), fixed design, two-sided 0.05 (one-sided 0.025), uniform accrual of
# 10/month. Prints trials per second on one core, by the wall clock and by the processor time (user +
# system) of this process.
suppressMessages(library(rpact))
args <- commandArgs(trailingOnly = TRUE)
iterations <- if (length(args) > 0) as.integer(args[1]) else 20000L
design <- getDesignGroupSequential(kMax = 1, alpha = 0.025, sided = 1)
timing <- system.time(sim <- getSimulationSurvival(
  design = design, median2 = 6, hazardRatio = 0.6, directionUpper = FALSE,
  accrualTime = c(0, 12), maxNumberOfSubjects = 120, plannedEvents = 90,
  maxNumberOfIterations = iterations, seed = 1
))
elapsed <- timing[["elapsed"]]
cpu <- timing[["user.self"]] + timing[["sys.self"]]
cat(sprintf("rpact %s: %d trials in %.2f s = %.0f trials/s (cpu %.2f s = %.0f trials/s), power %.4f\n",
            as.character(packageVersion("rpact")), iterations, elapsed, iterations / elapsed, cpu,
            iterations / cpu, sim$overallReject))
