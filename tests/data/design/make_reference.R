# Reference outputs for tests/stats/test_design.py, produced with R rpact.
#
# Run from this directory:  Rscript make_reference.R
# (Debian 12: apt-get install r-base-core r-cran-rpact; R 4.2.2, rpact 3.3.4. gsDesign is not packaged
# for Debian 12, so it is not used.)
# Writes one CSV per calculator with 15 significant digits; vectors (one value per look) are joined by ";".
# The Python tests compare against these stored literals and never call R.
suppressMessages(library(rpact))

num <- function(x) paste(sprintf("%.15g", x), collapse = ";")
out <- function(rows, file) {
  df <- do.call(rbind, lapply(rows, function(r) as.data.frame(r, stringsAsFactors = FALSE)))
  write.csv(df, file, row.names = FALSE, quote = FALSE, na = "NA")
}

# ------------------------------------------------------------------ events for a hazard ratio
# rpact: allocationRatioPlanned = n1 / n2 with group 1 the experimental arm (hazardRatio = lambda1 / lambda2),
# the same convention as oligotrial's `allocation` (experimental:control).
event_cases <- expand.grid(
  method = c("Schoenfeld", "Freedman"), hr = c(0.7, 0.5, 0.8, 1.4), alloc = c(1, 2, 0.5),
  test = c("two", "one"), power = c(0.8, 0.9), stringsAsFactors = FALSE
)
rows <- list()
for (i in seq_len(nrow(event_cases))) {
  cs <- event_cases[i, ]
  alpha <- if (cs$test == "two") 0.05 else 0.025
  sided <- if (cs$test == "two") 2 else 1
  s <- getSampleSizeSurvival(
    hazardRatio = cs$hr, alpha = alpha, sided = sided, beta = 1 - cs$power,
    typeOfComputation = cs$method, allocationRatioPlanned = cs$alloc,
    accrualTime = c(0, 24), followUpTime = 12, median2 = 12
  )
  rows[[i]] <- list(
    method = tolower(cs$method), hazard_ratio = cs$hr, alpha = alpha, sided = sided, power = cs$power,
    allocation = cs$alloc, events = num(s$maxNumberOfEvents)
  )
}
out(rows, "events.csv")

# ------------------------------------------------------------------ power for a number of events
power_cases <- list(
  list("Schoenfeld", 0.7, 0.05, 2, 1, 247), list("Schoenfeld", 0.7, 0.025, 1, 1, 331),
  list("Freedman", 0.7, 0.05, 2, 1, 253), list("Freedman", 0.7, 0.025, 1, 2, 200),
  list("Schoenfeld", 0.6, 0.05, 2, 2, 120), list("Schoenfeld", 1.3, 0.025, 1, 1, 300),
  list("Schoenfeld", 0.8, 0.05, 2, 0.5, 100), list("Freedman", 0.5, 0.05, 2, 1, 40)
)
rows <- list()
for (i in seq_along(power_cases)) {
  cs <- power_cases[[i]]
  names(cs) <- c("method", "hr", "alpha", "sided", "alloc", "events")
  p <- getPowerSurvival(
    hazardRatio = cs$hr, alpha = cs$alpha, sided = cs$sided, typeOfComputation = cs$method,
    allocationRatioPlanned = cs$alloc, maxNumberOfEvents = cs$events, maxNumberOfSubjects = 1000,
    accrualTime = c(0, 24), median2 = 12, directionUpper = if (cs$sided == 1) cs$hr > 1 else NA
  )
  rows[[i]] <- list(
    method = tolower(cs$method), hazard_ratio = cs$hr, alpha = cs$alpha, sided = cs$sided,
    allocation = cs$alloc, events = cs$events, power = num(p$overallReject)
  )
}
out(rows, "power.csv")

# ------------------------------------------------------------------ sample size (fixed design)
# Uniform accrual on [0, accrual], exponential event times (control median or hazard, HR), exponential
# drop-out: dropout_rate = probability of dropping out by dropout_time, the same in both arms.
# Either accrual + follow_up, or accrual_rate + follow_up (accrual solved), or accrual_rate + accrual
# (follow-up solved).
ss_cases <- list(
  list(method = "Schoenfeld", hr = 0.7, alpha = 0.05, sided = 2, power = 0.8, alloc = 1, median = 12,
       hazard = NA, accrual = 24, follow_up = 12, rate = NA, dropout = 0, dropout_time = 12),
  list(method = "Schoenfeld", hr = 0.7, alpha = 0.05, sided = 2, power = 0.8, alloc = 2, median = 12,
       hazard = NA, accrual = 24, follow_up = 12, rate = NA, dropout = 0.1, dropout_time = 12),
  list(method = "Freedman", hr = 0.7, alpha = 0.025, sided = 1, power = 0.9, alloc = 1, median = 9,
       hazard = NA, accrual = 18, follow_up = 6, rate = NA, dropout = 0.05, dropout_time = 12),
  list(method = "Schoenfeld", hr = 0.65, alpha = 0.025, sided = 1, power = 0.8, alloc = 2, median = NA,
       hazard = 0.05, accrual = 24, follow_up = 12, rate = NA, dropout = 0, dropout_time = 12),
  list(method = "Schoenfeld", hr = 0.7, alpha = 0.025, sided = 1, power = 0.8, alloc = 1, median = 12,
       hazard = NA, accrual = NA, follow_up = 12, rate = 20, dropout = 0.05, dropout_time = 12),
  list(method = "Schoenfeld", hr = 0.6, alpha = 0.05, sided = 2, power = 0.8, alloc = 1, median = 10,
       hazard = NA, accrual = 12, follow_up = NA, rate = 20, dropout = 0.1, dropout_time = 24),
  list(method = "Schoenfeld", hr = 1.5, alpha = 0.05, sided = 2, power = 0.9, alloc = 1, median = 24,
       hazard = NA, accrual = 36, follow_up = 0, rate = NA, dropout = 0, dropout_time = 12)
)
rows <- list()
for (i in seq_along(ss_cases)) {
  cs <- ss_cases[[i]]
  args <- list(
    hazardRatio = cs$hr, alpha = cs$alpha, sided = cs$sided, beta = 1 - cs$power,
    typeOfComputation = cs$method, allocationRatioPlanned = cs$alloc,
    dropoutRate1 = cs$dropout, dropoutRate2 = cs$dropout, dropoutTime = cs$dropout_time
  )
  if (!is.na(cs$median)) args$median2 <- cs$median else args$lambda2 <- cs$hazard
  if (is.na(cs$rate)) {
    args$accrualTime <- c(0, cs$accrual)
    args$followUpTime <- cs$follow_up
  } else if (is.na(cs$accrual)) {
    args$accrualTime <- 0
    args$accrualIntensity <- cs$rate
    args$followUpTime <- cs$follow_up
  } else {
    args$accrualTime <- c(0, cs$accrual)
    args$accrualIntensity <- cs$rate
  }
  s <- do.call(getSampleSizeSurvival, args)
  n <- s$maxNumberOfSubjects
  rows[[i]] <- list(
    method = tolower(cs$method), hazard_ratio = cs$hr, alpha = cs$alpha, sided = cs$sided,
    power = cs$power, allocation = cs$alloc, control_median = cs$median, control_hazard = cs$hazard,
    accrual_duration = cs$accrual, follow_up = cs$follow_up, accrual_rate = cs$rate,
    dropout_rate = cs$dropout, dropout_time = cs$dropout_time,
    events = num(s$maxNumberOfEvents), subjects = num(n),
    subjects_experimental = num(n * cs$alloc / (1 + cs$alloc)),
    accrual_duration_out = num(s$accrualTime[length(s$accrualTime)]),
    follow_up_out = num(s$followUpTime), study_duration = num(s$studyDuration)
  )
}
out(rows, "sample_size.csv")

# ------------------------------------------------------------------ group-sequential boundaries
# getDesignGroupSequential with Lan-DeMets spending; futility by beta spending is non-binding.
# getDesignCharacteristics gives the drift ("shift" = drift^2) and the inflation factor when beta is given.
gs_cases <- list(
  list(k = 2, rates = NA, alpha = 0.025, sided = 1, spending = "asOF", futility = NA, beta = 0.2),
  list(k = 3, rates = NA, alpha = 0.025, sided = 1, spending = "asOF", futility = NA, beta = 0.2),
  list(k = 4, rates = NA, alpha = 0.025, sided = 1, spending = "asOF", futility = NA, beta = 0.1),
  list(k = 5, rates = NA, alpha = 0.025, sided = 1, spending = "asOF", futility = NA, beta = 0.2),
  list(k = 3, rates = NA, alpha = 0.025, sided = 1, spending = "asP", futility = NA, beta = 0.2),
  list(k = 5, rates = NA, alpha = 0.025, sided = 1, spending = "asP", futility = NA, beta = 0.1),
  list(k = 3, rates = NA, alpha = 0.05, sided = 2, spending = "asOF", futility = NA, beta = 0.2),
  list(k = 4, rates = NA, alpha = 0.05, sided = 2, spending = "asP", futility = NA, beta = 0.2),
  list(k = 3, rates = "0.3;0.7;1", alpha = 0.025, sided = 1, spending = "asOF", futility = NA, beta = 0.2),
  list(k = 3, rates = "0.1;0.2;1", alpha = 0.025, sided = 1, spending = "asOF", futility = NA, beta = 0.2),
  list(k = 1, rates = NA, alpha = 0.025, sided = 1, spending = "asOF", futility = NA, beta = 0.2),
  list(k = 2, rates = NA, alpha = 0.025, sided = 1, spending = "asOF", futility = "bsOF", beta = 0.2),
  list(k = 3, rates = NA, alpha = 0.025, sided = 1, spending = "asOF", futility = "bsOF", beta = 0.2),
  list(k = 3, rates = NA, alpha = 0.025, sided = 1, spending = "asOF", futility = "bsP", beta = 0.2),
  list(k = 3, rates = "0.3;0.7;1", alpha = 0.025, sided = 1, spending = "asP", futility = "bsP", beta = 0.1),
  list(k = 4, rates = NA, alpha = 0.05, sided = 1, spending = "asP", futility = "bsOF", beta = 0.2),
  list(k = 4, rates = "0.4;0.6;0.8;1", alpha = 0.025, sided = 1, spending = "asOF", futility = "bsOF", beta = 0.1)
)
rows <- list()
for (i in seq_along(gs_cases)) {
  cs <- gs_cases[[i]]
  args <- list(alpha = cs$alpha, sided = cs$sided, typeOfDesign = cs$spending, beta = cs$beta)
  if (is.na(cs$rates)) args$kMax <- cs$k else args$informationRates <- as.numeric(strsplit(cs$rates, ";")[[1]])
  if (!is.na(cs$futility)) {
    args$typeBetaSpending <- cs$futility
    args$bindingFutility <- FALSE
  }
  d <- do.call(getDesignGroupSequential, args)
  ch <- getDesignCharacteristics(d)
  futility <- if (is.na(cs$futility)) NA else num(c(d$futilityBounds, d$criticalValues[d$kMax]))
  rows[[i]] <- list(
    k = cs$k, alpha = cs$alpha, sided = cs$sided, spending = cs$spending, futility = cs$futility,
    beta = cs$beta, information_rates = num(d$informationRates), critical_values = num(d$criticalValues),
    stage_levels = num(d$stageLevels), alpha_spent = num(d$alphaSpent), futility_bounds = futility,
    beta_spent = if (is.na(cs$futility)) NA else num(d$betaSpent),
    drift = num(sqrt(ch$shift)), inflation_factor = num(ch$inflationFactor)
  )
}
out(rows, "boundaries.csv")
