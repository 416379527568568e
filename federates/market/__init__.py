"""Transactive retail market (TESP TE30 form): double auction, HVAC ramp bidders, external curve bidders, the
``sub_<bus>`` federate. Pure cores: ``auction``, ``hvac``, ``bidders``, ``agent_dict``, ``substation``,
``helics_config``; HELICS adapter: ``federate`` (``python -m vppfed.federates.market``)."""
