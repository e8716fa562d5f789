// incidents
