"""Keras 3 layers over TF-Hub SavedModels: the hub text layers (``hub_layers``), the ``hub.KerasLayer`` drop-in
(``keras_layer``), the SavedModel variables they share with Keras (``module_weights``) and the length-sorted
micro-batch policy (``micro_batches``). Imports nothing itself: import the module you need."""
