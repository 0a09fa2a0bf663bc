# labs/module.mk - the labs: `make lab1` .. `make lab5` run one grader, `make grade` all five with a
# summary table, `make labN-demo` opens the lab's scenario in tmux for a projector, and
# `make test-labs` tests the graders themselves (each against a setup broken on purpose).
# The graders live in labs/labN/grade.sh and share labs/common/lib.sh; see labs/README.md.
LAB_NUMBERS := 1 2 3 4 5
LAB_TARGETS := $(addprefix lab,$(LAB_NUMBERS))
LAB_DEMOS := $(addsuffix -demo,$(LAB_TARGETS))
LAB_ENV = LBLAB_BIN=$(abspath $(BIN))
# (the rules below depend on `all`, not on $(PROGRAM_BINS): this file is included before the
# programs' module.mk files have named them)

.PHONY: $(LAB_TARGETS) $(LAB_DEMOS) grade test-labs

$(LAB_TARGETS): lab%: deps-test all
	$(Q)$(LAB_ENV) labs/lab$*/grade.sh

lab1: ## lab 1: one request, two TCP connections (lab2..lab5: see labs/README.md)

grade: deps-test all ## run the five labs' graders and print a summary table
	$(Q)$(LAB_ENV) labs/common/grade-all.sh $(LAB_NUMBERS)

$(LAB_DEMOS): lab%-demo: deps-test all
	$(Q)$(LAB_ENV) labs/common/demo.sh $*

lab1-demo: ## a lab's scenario in tmux for a projector (lab2-demo .. lab5-demo too)

test-labs: all ## test the graders: each one against a setup broken on purpose
	$(Q)$(LAB_ENV) labs/test/test-graders.sh
