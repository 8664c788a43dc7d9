# Reference inputs and outputs for tests/stats, produced with R `survival`.
#
# Run from this directory:  Rscript make_reference.R
# (Debian 12: apt-get install r-base-core r-cran-survival; R 4.2.2, survival 3.5-3.)
# Writes the input datasets as CSV and R's results as CSV with 17 significant digits; the Python tests
# compare against these stored literals and never call R.
suppressMessages(library(survival))

fmt <- function(df) {
  for (col in names(df)) {
    x <- df[[col]]
    if (is.numeric(x)) df[[col]] <- ifelse(is.na(x) & !is.nan(x), "NA", sprintf("%.17g", x))
  }
  df
}
out <- function(df, file) write.csv(fmt(df), file, row.names = FALSE, quote = FALSE, na = "NA")
# Inputs are written as R prints them (15 significant digits), which reads back to the same doubles.
out_input <- function(df, file) write.csv(df, file, row.names = FALSE, quote = FALSE, na = "NA")

# ---------------------------------------------------------------- input datasets
lung_cc <- na.omit(survival::lung[, c("time", "status", "sex", "age", "ph.ecog")])
names(lung_cc)[names(lung_cc) == "ph.ecog"] <- "ph_ecog"
out_input(lung_cc, "lung.csv")
vet <- survival::veteran
vet$celltype <- as.character(vet$celltype)
out_input(vet, "veteran.csv")
ova <- survival::ovarian
names(ova) <- gsub(".", "_", names(ova), fixed = TRUE)
out_input(ova, "ovarian.csv")
aml_df <- data.frame(time = survival::aml$time, status = survival::aml$status,
                     x = as.character(survival::aml$x))
out_input(aml_df, "aml.csv")

set.seed(20240611)
n <- 300
ties <- data.frame(time = sample(1:12, n, replace = TRUE), status = rbinom(n, 1, 0.7),
                   arm = rbinom(n, 1, 0.5), grp3 = sample(c("a", "b", "c"), n, replace = TRUE),
                   stratum = sample(1:3, n, replace = TRUE), x = round(rnorm(n), 2))
out_input(ties, "ties.csv")
n <- 400
censored <- data.frame(time = round(rexp(n, 0.05), 1), status = rbinom(n, 1, 0.1),
                       arm = rbinom(n, 1, 0.5))
out_input(censored, "censored.csv")
allcens <- data.frame(time = c(3, 5, 5, 8, 13, 21), status = 0, arm = c(0, 1, 0, 1, 0, 1))
out_input(allcens, "allcensored.csv")

datasets <- list(lung = lung_cc, veteran = vet, ovarian = ova, aml = aml_df, ties = ties,
                 censored = censored, allcensored = allcens)
event_value <- c(lung = 2, veteran = 1, ovarian = 1, aml = 1, ties = 1, censored = 1, allcensored = 1)
timevar <- c(lung = "time", veteran = "time", ovarian = "futime", aml = "time", ties = "time",
             censored = "time", allcensored = "time")
statusvar <- c(lung = "status", veteran = "status", ovarian = "fustat", aml = "status", ties = "status",
               censored = "status", allcensored = "status")
surv_of <- function(ds) {
  d <- datasets[[ds]]
  Surv(d[[timevar[[ds]]]], d[[statusvar[[ds]]]] == event_value[[ds]])
}

# ---------------------------------------------------------------- Kaplan-Meier
km_cases <- list(c("lung", ""), c("lung", "sex"), c("veteran", "trt"), c("aml", "x"), c("ovarian", "rx"),
                 c("ties", "arm"), c("censored", "arm"), c("allcensored", "arm"))
rmean_tau <- c(lung = 500, veteran = 200, aml = 40, ovarian = 700, ties = 10, censored = 30,
               allcensored = 10)
curves <- list(); tables <- list(); at <- list()
for (case in km_cases) {
  ds <- case[1]; grp <- case[2]; d <- datasets[[ds]]
  y <- surv_of(ds)
  for (ct in c("log", "log-log", "plain")) {
    fit <- if (grp == "") survfit(y ~ 1, conf.type = ct) else survfit(y ~ d[[grp]], conf.type = ct)
    if (is.null(fit$strata)) glab <- rep("", length(fit$time)) else
      glab <- rep(sub("^[^=]*=", "", names(fit$strata)), fit$strata)
    curves[[length(curves) + 1]] <- data.frame(
      dataset = ds, group_by = grp, conf_type = ct, group = glab, time = fit$time, n_risk = fit$n.risk,
      n_event = fit$n.event, n_censor = fit$n.censor, surv = fit$surv, std_err = fit$std.err,
      lower = fit$lower, upper = fit$upper)
    tab <- summary(fit, rmean = rmean_tau[[ds]])$table
    if (is.null(dim(tab))) tab <- t(as.matrix(tab))
    tlab <- if (grp == "") "" else sub("^[^=]*=", "", rownames(tab))
    tables[[length(tables) + 1]] <- data.frame(
      dataset = ds, group_by = grp, conf_type = ct, group = tlab, n = tab[, "n.start"],
      events = tab[, "events"], median = tab[, "median"], median_lower = tab[, "0.95LCL"],
      median_upper = tab[, "0.95UCL"], tau = rmean_tau[[ds]], rmean = tab[, "rmean"],
      se_rmean = tab[, "se(rmean)"])
    times <- quantile(y[, 1], c(0.1, 0.25, 0.5, 0.75))
    s <- summary(fit, times = times)
    slab <- if (is.null(s$strata)) rep("", length(s$time)) else sub("^[^=]*=", "", as.character(s$strata))
    at[[length(at) + 1]] <- data.frame(
      dataset = ds, group_by = grp, conf_type = ct, group = slab, time = s$time, surv = s$surv,
      std_err = s$std.err, lower = s$lower, upper = s$upper)
  }
}
out(do.call(rbind, curves), "km_curves.csv")
out(do.call(rbind, tables), "km_tables.csv")
out(do.call(rbind, at), "km_at_times.csv")

# ---------------------------------------------------------------- log-rank (survdiff)
lr_cases <- list(c("lung", "sex", ""), c("lung", "sex", "ph_ecog"), c("veteran", "trt", ""),
                 c("veteran", "trt", "celltype"), c("ovarian", "rx", ""), c("aml", "x", ""),
                 c("ties", "arm", "stratum"), c("ties", "grp3", ""), c("ties", "grp3", "stratum"),
                 c("censored", "arm", ""))
lr <- list()
for (case in lr_cases) {
  ds <- case[1]; d <- datasets[[ds]]; y <- surv_of(ds)
  sd <- if (case[3] == "") survdiff(y ~ d[[case[2]]]) else
    survdiff(y ~ d[[case[2]]] + strata(d[[case[3]]]))
  obs <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  ex <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  df <- sum(ex > 0) - 1
  lr[[length(lr) + 1]] <- data.frame(dataset = ds, group = case[2], strata = case[3], chisq = sd$chisq,
                                     df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE),
                                     observed = paste(obs, collapse = ";"),
                                     expected = paste(sprintf("%.17g", ex), collapse = ";"))
}
out(do.call(rbind, lr), "logrank.csv")

# ---------------------------------------------------------------- Cox (coxph)
sorted_factor <- function(x) factor(x, levels = sort(unique(x)))
cox_cases <- list(c("lung", "age+sex+ph_ecog", ""), c("lung", "age+sex", "ph_ecog"),
                  c("veteran", "trt+karno", "celltype"), c("veteran", "trt+celltype", ""),
                  c("ovarian", "rx+age", ""), c("aml", "x", ""), c("ties", "arm+x", "stratum"),
                  c("ties", "arm", ""), c("censored", "arm", ""))
coefs <- list(); fits <- list()
for (case in cox_cases) {
  ds <- case[1]; d <- datasets[[ds]]; y <- surv_of(ds)
  covs <- strsplit(case[2], "+", fixed = TRUE)[[1]]
  for (v in covs) if (is.character(d[[v]])) d[[v]] <- sorted_factor(d[[v]])
  rhs <- paste(covs, collapse = " + ")
  if (case[3] != "") rhs <- paste0(rhs, " + strata(", case[3], ")")
  for (ties_method in c("efron", "breslow")) {
    fit <- coxph(as.formula(paste("y ~", rhs)), data = d, ties = ties_method)
    s <- summary(fit)
    cm <- s$coefficients; ci <- s$conf.int
    coefs[[length(coefs) + 1]] <- data.frame(
      dataset = ds, covariates = case[2], strata = case[3], ties = ties_method, term = rownames(cm),
      coef = cm[, "coef"], se = cm[, "se(coef)"], hr = cm[, "exp(coef)"], hr_lower = ci[, "lower .95"],
      hr_upper = ci[, "upper .95"], z = cm[, "z"], p = cm[, "Pr(>|z|)"])
    fits[[length(fits) + 1]] <- data.frame(
      dataset = ds, covariates = case[2], strata = case[3], ties = ties_method, n = fit$n,
      events = fit$nevent, loglik_null = fit$loglik[1], loglik = fit$loglik[2],
      lr = s$logtest[["test"]], lr_df = s$logtest[["df"]], lr_p = s$logtest[["pvalue"]],
      score = fit$score, score_p = s$sctest[["pvalue"]], wald = fit$wald.test,
      wald_p = pchisq(fit$wald.test, s$waldtest[["df"]], lower.tail = FALSE), iter = fit$iter)
  }
}
out(do.call(rbind, coefs), "cox_coefficients.csv")
out(do.call(rbind, fits), "cox_fits.csv")

# ---------------------------------------------------------------- binary endpoints
bt <- list()
for (xn in list(c(0, 10), c(7, 20), c(20, 20), c(13, 40), c(1, 1))) {
  b <- binom.test(xn[1], xn[2])
  bt[[length(bt) + 1]] <- data.frame(events = xn[1], n = xn[2], rate = b$estimate,
                                     lower = b$conf.int[1], upper = b$conf.int[2])
}
out(do.call(rbind, bt), "binom_test.csv")

ft <- list()
for (tab in list(c(3, 1, 1, 3), c(10, 2, 3, 15), c(0, 5, 5, 0), c(12, 5, 7, 7), c(2, 30, 9, 25))) {
  m <- matrix(tab, 2, byrow = TRUE)
  f <- fisher.test(m)
  ft[[length(ft) + 1]] <- data.frame(a = tab[1], b = tab[2], c = tab[3], d = tab[4], p = f$p.value,
                                     odds_ratio = f$estimate, lower = f$conf.int[1],
                                     upper = f$conf.int[2])
}
out(do.call(rbind, ft), "fisher_test.csv")

# Cochran-Mantel-Haenszel on UCBAdmissions (2x2x6, public) and a small synthetic 2x2x3 table.
synthetic <- array(c(10, 4, 6, 12, 3, 8, 9, 7, 15, 5, 10, 11), dim = c(2, 2, 3))
mh <- list()
for (name in c("UCBAdmissions", "synthetic")) {
  x <- if (name == "UCBAdmissions") UCBAdmissions else synthetic
  for (correct in c(TRUE, FALSE)) {
    m <- mantelhaen.test(x, correct = correct)
    mh[[length(mh) + 1]] <- data.frame(table = name, correct = correct, statistic = m$statistic,
                                       p = m$p.value, odds_ratio = m$estimate, lower = m$conf.int[1],
                                       upper = m$conf.int[2])
  }
}
out(do.call(rbind, mh), "mantelhaen_test.csv")
# The tables themselves, flattened as stratum, row, column, count (R's x[row, column, stratum]).
flat <- function(x, name) {
  idx <- which(array(TRUE, dim(x)), arr.ind = TRUE)
  data.frame(table = name, stratum = idx[, 3], row = idx[, 1], column = idx[, 2], count = as.vector(x))
}
out(rbind(flat(UCBAdmissions, "UCBAdmissions"), flat(synthetic, "synthetic")), "mantelhaen_tables.csv")
