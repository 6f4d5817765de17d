"""Each task's label set, in the order our models and FER2013 use: what the runtime checks a model against and
what the datasets and metrics name their classes by."""

EMOTION_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # FER2013's 0..6
SEATBELT_LABELS = ["not_worn", "worn"]
EYE_LABELS = ["open", "closed"]  # one eye
PHONE_LABELS = ["call", "texting", "none"]  # a phone at the ear, one held to type or read, or neither
TASK_LABELS: dict[str, list[str]] = {
    "emotion": EMOTION_LABELS,
    "seatbelt": SEATBELT_LABELS,
    "eyes": EYE_LABELS,
    "phone": PHONE_LABELS,
}
