# common/module.mk - code two or more programs share, as one archive.
COMMON_SRCS := $(wildcard common/*.c)
COMMON_LIB := $(BUILD)/common/libcommon.a

$(COMMON_LIB): $(call objs_of,$(COMMON_SRCS))
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
